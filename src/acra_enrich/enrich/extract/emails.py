"""Public email addresses: mailto links, Cloudflare email protection, visible text, obfuscations.

Every candidate goes through `clean_email`: lower-cased, syntax-checked by email-validator (no DNS),
and dropped when it is an asset file name (`logo@2x.png`) or a placeholder/tracker address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from email_validator import EmailNotValidError, validate_email
from selectolax.lexbor import LexborHTMLParser

from acra_enrich.enrich.extract.dom import attr
from acra_enrich.enrich.facts import Sourced
from acra_enrich.enrich.sites import host_matches

# File extensions that show up as the "TLD" of retina asset names (logo@2x.png) and bundles.
_ASSET_SUFFIXES = frozenset(
    "png jpg jpeg gif webp svg ico bmp avif tif tiff heic css js mjs map json xml woff woff2 ttf "
    "eot otf mp4 webm mov mp3 wav pdf zip gz php html htm asp aspx".split()
)
# Template, placeholder and error-tracker domains (sentry DSNs look like hex@o123.ingest.sentry.io).
_PLACEHOLDER_DOMAINS = (
    "example.com", "example.org", "example.net", "domain.com", "yourdomain.com", "your-domain.com",
    "yourcompany.com", "company.com", "email.com", "mysite.com", "yoursite.com", "website.com",
    "sentry.io", "wixpress.com", "sentry-next.wixpress.com", "ingest.sentry.io",
)
_PLACEHOLDER_LOCALS = frozenset({"user", "username", "name", "your", "yourname", "you", "email", "someone", "john.doe", "johndoe"})
_HEX_LOCAL = re.compile(r"^[0-9a-f]{24,}$")
_RETINA = re.compile(r"^\d+(?:\.\d+)?x\.")

_EMAIL = re.compile(
    r"(?<![\w.+%-])([a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)+)",
    re.IGNORECASE,
)

# Obfuscations, kept tight so prose ("available at Amazon.com") never becomes an address:
# - a bracketed "at" ([at], (at), {at}, <at>) with bracketed or literal dots;
# - a bare lower-case " at " only together with bracketed dots;
# - the upper-case words " AT " / " DOT " (case-sensitive: prose does not shout them).
_LOCAL = r"(?<![\w.+%-])([a-z0-9][a-z0-9._%+-]{0,63})"
_LABEL = r"([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)"
_B_AT = r"\s*[\[({<]\s*at\s*[\])}>]\s*"
_B_DOT = r"\s*[\[({<]\s*dot\s*[\])}>]\s*"
_OBFUSCATED = (
    re.compile(rf"{_LOCAL}{_B_AT}{_LABEL}((?:(?:{_B_DOT}|\.){_LABEL})+)", re.IGNORECASE),
    re.compile(rf"{_LOCAL}\s+at\s+{_LABEL}((?:{_B_DOT}{_LABEL})+)", re.IGNORECASE),
    re.compile(
        r"(?<![\w.+%-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})\s+AT\s+([A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)"
        r"((?:(?:\s+DOT\s+|\s*[\[({<]\s*(?i:dot)\s*[\])}>]\s*|\.)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+)"
    ),
)
_DOT_SEPARATOR = re.compile(r"\s+DOT\s+|\s*[\[({<]\s*dot\s*[\])}>]\s*", re.IGNORECASE)
_TLD = re.compile(r"^[a-z]{2,24}$")

_MAX_TEXT = 400_000


def clean_email(raw: str) -> str | None:
    """Normalise one candidate; None when it is not a plausible public company address."""
    candidate = unquote(raw).strip().strip(".,;:<>()[]{}\"'").lower()
    if candidate.startswith("mailto:"):
        candidate = candidate[7:]
    if candidate.count("@") != 1 or len(candidate) > 254:
        return None
    try:
        normalized = validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None
    local, _, domain = normalized.partition("@")
    tld = domain.rsplit(".", 1)[-1]
    if tld in _ASSET_SUFFIXES or not _TLD.match(tld) or _RETINA.match(domain):
        return None
    if any(host_matches(domain, d) for d in _PLACEHOLDER_DOMAINS):
        return None
    if local in _PLACEHOLDER_LOCALS and domain.split(".")[0] in {"domain", "email", "company", "example", "yourdomain"}:
        return None
    if _HEX_LOCAL.match(local):
        return None
    return normalized


def decode_cfemail(encoded: str) -> str | None:
    """Cloudflare email protection: hex string whose first byte is the XOR key for the rest."""
    encoded = encoded.strip()
    if len(encoded) < 4 or len(encoded) % 2 or len(encoded) > 1024:
        return None
    try:
        data = bytes.fromhex(encoded)
    except ValueError:
        return None
    key = data[0]
    try:
        return bytes(b ^ key for b in data[1:]).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _mailto_addresses(href: str) -> list[str]:
    target = href.split(":", 1)[1] if ":" in href else ""
    target = target.split("?", 1)[0]
    return [part for part in re.split(r"[,;]", unquote(target)) if part.strip()]


def _from_links(tree: LexborHTMLParser) -> Iterable[tuple[str, str]]:
    for node in tree.css("a[href]"):
        href = attr(node, "href")
        lowered = href.lower()
        if lowered.startswith("mailto:"):
            for address in _mailto_addresses(href):
                yield address, "mailto"
        elif "/cdn-cgi/l/email-protection#" in lowered:
            decoded = decode_cfemail(href.rsplit("#", 1)[1])
            if decoded:
                yield decoded, "cfemail"
    for node in tree.css("[data-cfemail]"):
        decoded = decode_cfemail(attr(node, "data-cfemail"))
        if decoded:
            yield decoded, "cfemail"


def _deobfuscate(text: str) -> Iterable[str]:
    for pattern in _OBFUSCATED:
        for match in pattern.finditer(text):
            local, first, rest = match.group(1), match.group(2), match.group(3)
            labels = [first] + [p for p in re.split(r"\.", _DOT_SEPARATOR.sub(".", rest)) if p]
            if len(labels) < 2:
                continue
            yield f"{local}@{'.'.join(labels)}"


def _from_text(text: str) -> Iterable[tuple[str, str]]:
    text = text[:_MAX_TEXT]
    for match in _EMAIL.finditer(text):
        yield match.group(1), "text"
    for address in _deobfuscate(text):
        yield address, "obfuscated"


def extract_emails(
    tree: LexborHTMLParser,
    text: str,
    page_url: str,
    structured: Iterable[tuple[str, str]] = (),
) -> list[Sourced[str]]:
    """All valid addresses on the page, first finder wins: links, then structured data, then text."""
    found: dict[str, Sourced[str]] = {}
    candidates: list[Iterable[tuple[str, str]]] = [_from_links(tree), structured, _from_text(text)]
    for source in candidates:
        for raw, method in source:
            email = clean_email(raw)
            if email and email not in found:
                found[email] = Sourced(email, page_url, method)
    return list(found.values())
