"""Registrable-domain helpers (tldextract with its bundled suffix list: never fetched)."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

import tldextract

_IP_LIKE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# Private suffixes on: each tenant of a hosting platform (acme.wixsite.com, acme.github.io) is its own site.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


@lru_cache(maxsize=4096)
def registrable_domain(host_or_url: str) -> str:
    """`www.shop.acme.com.sg` -> `acme.com.sg`; IP addresses and single-label hosts (localhost)
    are returned as they are."""
    host = host_of(host_or_url) if "/" in host_or_url else host_or_url.lower().rstrip(".")
    if not host:
        return ""
    try:
        top = _EXTRACT(host).top_domain_under_public_suffix
    except Exception:  # a malformed host has no registrable domain
        top = ""
    if top:
        return top
    labels = host.split(".")
    if _IP_LIKE.match(host) or ":" in host or len(labels) < 2:
        return host
    # A name under no known suffix (an intranet or sandbox name such as acme.test): treat the
    # last two labels as the site, so www./careers. variants still count as the same site.
    return ".".join(labels[-2:])


@lru_cache(maxsize=4096)
def has_public_suffix(domain: str) -> bool:
    """`acme.com.sg` yes; `acme.comsales` (no such suffix) or a bare suffix (`com.sg`) no."""
    try:
        parts = _EXTRACT(domain)
    except Exception:  # a malformed name has no suffix
        return False
    return bool(parts.suffix) and bool(parts.domain)


def same_site(url_a: str, url_b: str) -> bool:
    a, b = registrable_domain(url_a), registrable_domain(url_b)
    return bool(a) and a == b


def host_matches(host: str, domain: str) -> bool:
    """True when `host` is `domain` or one of its subdomains."""
    return host == domain or host.endswith("." + domain)
