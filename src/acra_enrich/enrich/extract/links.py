"""Links: the site's own about/contact/careers pages (ranked), social profiles, ATS job boards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from acra_enrich.enrich.extract.dom import (
    attr,
    base_url,
    in_navigation,
    normalize_space,
    parse_html,
    safe_urljoin,
    sanitize_html,
)
from acra_enrich.enrich.facts import Sourced
from acra_enrich.enrich.sites import host_matches, registrable_domain

LinkKind = Literal["about", "contact", "careers"]

_MAX_LINKS = 3_000


@dataclass(frozen=True)
class LinkCandidate:
    url: str
    text: str
    kind: LinkKind
    score: float


# Link texts, matched on the whole (normalised) text first, then as a phrase inside it.
_TEXTS: dict[LinkKind, tuple[str, ...]] = {
    "about": (
        "about us", "about", "who we are", "our story", "company", "our company", "about the company",
        "company profile", "corporate profile", "our team", "the team", "our history", "overview",
        "tentang kami", "关于我们", "公司简介",
    ),
    "contact": (
        "contact us", "contact", "get in touch", "reach us", "contacts", "contact info", "enquiry", "enquiries",
        "find us", "locate us", "talk to us", "hubungi kami", "联系我们",
    ),
    "careers": (
        "careers", "career", "jobs", "join us", "join our team", "we're hiring", "we are hiring", "work with us",
        "vacancies", "open positions", "job openings", "career opportunities", "kerjaya", "招聘", "加入我们",
    ),
}
# Path segments (without extension) that name the page.
_PATHS: dict[LinkKind, frozenset[str]] = {
    "about": frozenset({"about", "about-us", "aboutus", "about_us", "who-we-are", "our-story", "company",
                        "our-company", "company-profile", "profile", "team", "our-team", "history"}),
    "contact": frozenset({"contact", "contact-us", "contactus", "contact_us", "get-in-touch", "reach-us",
                          "contacts", "enquiry", "enquiries", "find-us", "locations"}),
    "careers": frozenset({"careers", "career", "jobs", "job", "join-us", "joinus", "join-our-team", "hiring",
                          "vacancies", "work-with-us", "opportunities", "openings"}),
}
_ASSET_EXT = re.compile(r"\.(?:pdf|jpe?g|png|gif|webp|svg|zip|docx?|xlsx?|pptx?|mp4|mp3|css|js|xml|ico)$", re.IGNORECASE)
_TEXT_CLEAN = re.compile(r"[^\w\s'’\u3000-\u9fff]+")

# Social networks: host -> network name; profile paths that are share/intent widgets are not profiles.
SOCIAL_HOSTS: tuple[tuple[str, str], ...] = (
    ("linkedin.com", "linkedin"),
    ("facebook.com", "facebook"),
    ("fb.com", "facebook"),
    ("instagram.com", "instagram"),
    ("twitter.com", "x"),
    ("x.com", "x"),
    ("youtube.com", "youtube"),
    ("youtu.be", "youtube"),
    ("tiktok.com", "tiktok"),
    ("github.com", "github"),
    ("pinterest.com", "pinterest"),
    ("t.me", "telegram"),
    ("wa.me", "whatsapp"),
)
# A company's (or school's, or product line's) own LinkedIn page; /in/ is a person.
_LINKEDIN_ORG = re.compile(r"^/(company|school|showcase)/([^/?#\s]+)", re.IGNORECASE)
_LINKEDIN_IN_TEXT = re.compile(r"(?:https?://)?((?:[a-z]{2,3}\.|www\.)?linkedin\.com/(?:company|school|showcase)/"
                               r"[A-Za-z0-9%_.\-]+)", re.IGNORECASE)
_MAX_TEXT = 200_000
_SHARE_PATHS = re.compile(
    r"^/(?:sharer|share|sharearticle|intent|home\?status|dialog|plugins|tr|embed|watch|hashtag|search|"
    r"p/|reel/|status|shares?|login|signup)",
    re.IGNORECASE,
)

# Applicant-tracking systems: a link to one of these hosts is a careers signal.
ATS_HOSTS: tuple[str, ...] = (
    "greenhouse.io", "lever.co", "workable.com", "myworkdayjobs.com", "myworkday.com", "smartrecruiters.com",
    "breezy.hr", "mycareersfuture.gov.sg", "bamboohr.com", "recruitee.com", "jobvite.com", "ashbyhq.com",
    "teamtailor.com", "personio.de", "icims.com", "successfactors.com", "taleo.net", "zohorecruit.com",
    "jobstreet.com", "jobstreet.com.sg",
)


def _norm_text(text: str) -> str:
    return normalize_space(_TEXT_CLEAN.sub(" ", text.lower().replace("’", "'")))


def _absolute(page_base: str, href: str) -> str | None:
    """Absolute http(s) URL without fragment; None for mailto/tel/javascript/fragment-only links."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    if re.match(r"^(?:mailto|tel|callto|javascript|data|sms|whatsapp):", href, re.IGNORECASE):
        return None
    resolved = safe_urljoin(page_base, href)
    if not resolved:
        return None
    try:
        parts = urlsplit(resolved)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def _path_segments(url: str) -> list[str]:
    path = urlsplit(url).path.lower()
    return [re.sub(r"\.(?:html?|php|aspx?)$", "", s) for s in path.split("/") if s]


def _score(kind: LinkKind, text: str, segments: list[str]) -> float:
    """1.0 exact link text, 0.8 phrase in the text, 0.6 path keyword; deeper paths rank lower."""
    score = 0.0
    phrases = _TEXTS[kind]
    if text in phrases:
        score = 1.0
    elif any(re.search(rf"(?:^|\s){re.escape(p)}(?:$|\s)", text) for p in phrases if len(text) <= 40):
        score = 0.8
    if any(seg in _PATHS[kind] for seg in segments):
        # The path agrees with the text: a slight boost; the path alone: a medium score.
        score = score + 0.1 if score else 0.6
    if score and len(segments) > 2:
        score -= 0.05 * (len(segments) - 2)
    return score


def nav_links(page_url: str, html: str) -> list[LinkCandidate]:
    """About/contact/careers links on the same site (www, apex and subdomains alike), best first.

    Each URL gets its best kind; links inside nav/header/footer get a small bonus; the page
    itself, other sites, fragments, mailto/tel/javascript links and files are dropped.
    """
    tree = parse_html(sanitize_html(html))
    return rank_nav_links(tree, page_url)


def rank_nav_links(tree: LexborHTMLParser, page_url: str) -> list[LinkCandidate]:
    site = registrable_domain(page_url)
    page_base = base_url(tree, page_url)
    self_url = _absolute(page_url, page_url)
    best: dict[str, LinkCandidate] = {}
    for node in tree.css("a[href]")[:_MAX_LINKS]:
        url = _absolute(page_base, attr(node, "href"))
        if not url or url == self_url or registrable_domain(url) != site:
            continue
        if _ASSET_EXT.search(urlsplit(url).path):
            continue
        raw_text = normalize_space(node.text() or "") or attr(node, "title") or attr(node, "aria-label")
        text = _norm_text(raw_text)
        segments = _path_segments(url)
        bonus = 0.1 if in_navigation(node) else 0.0
        for kind in ("about", "contact", "careers"):
            score = _score(kind, text, segments)
            if score <= 0:
                continue
            candidate = LinkCandidate(url=url, text=raw_text[:200], kind=kind, score=round(min(score + bonus, 1.2), 3))
            current = best.get(url)
            if current is None or candidate.score > current.score:
                best[url] = candidate
    return sorted(best.values(), key=lambda c: (-c.score, len(c.url), c.url))


def profile_url(url: str, network: str) -> str:
    """Canonical profile URL: https, no mobile host, no query, trimmed to the profile's own path
    (a link to one post or video still names the profile it belongs to). LinkedIn pages are
    `https://www.linkedin.com/company/<slug>` whatever the country subdomain (sg.linkedin.com),
    tracking query (?trk=), trailing slash or letter case of the link."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.startswith(("m.", "mobile.")):
        host = "www." + host.split(".", 1)[1]
    if network == "linkedin":
        org = _LINKEDIN_ORG.match(parts.path)
        if org:
            return f"https://www.linkedin.com/{org.group(1).lower()}/{org.group(2).lower()}"
    segments = [s for s in parts.path.split("/") if s]
    keep = 1
    if network == "linkedin" or (network == "youtube" and segments and segments[0] in ("channel", "c", "user")):
        keep = 2
    path = "/" + "/".join(segments[:keep]) if segments else "/"
    return urlunsplit(("https", host, path, "", ""))


def social_network(url: str) -> str | None:
    """The network a profile URL belongs to; None for other hosts, bare home pages and share widgets."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    for social_host, network in SOCIAL_HOSTS:
        if host_matches(host, social_host):
            path = parts.path or "/"
            if path == "/" or _SHARE_PATHS.match(path):
                return None
            if network == "linkedin" and not _LINKEDIN_ORG.match(path):
                return None  # a person's /in/ profile, a post, a share link: not the company's page
            return network
    return None


def linkedin_rank(url: str) -> int:
    """Lower is better: company pages, then school/showcase pages."""
    path = urlsplit(url).path.lower()
    if path.startswith("/company/"):
        return 0
    if path.startswith(("/school/", "/showcase/")):
        return 1
    return 2


def social_links(
    tree: LexborHTMLParser, page_url: str, structured: list[tuple[str, str]], text: str = ""
) -> tuple[Sourced[str] | None, dict[str, Sourced[str]]]:
    """(best LinkedIn URL, {network: first profile URL}) from anchors (icon-only ones too),
    structured `sameAs`, and LinkedIn page addresses written in the text (a reader's output)."""
    page_base = base_url(tree, page_url)
    candidates: list[tuple[str, str]] = list(structured)
    for node in tree.css("a[href]")[:_MAX_LINKS]:
        candidates.append((attr(node, "href"), "link"))
    candidates += [("https://" + m.group(1), "text") for m in _LINKEDIN_IN_TEXT.finditer(text[:_MAX_TEXT])]
    linkedin: Sourced[str] | None = None
    socials: dict[str, Sourced[str]] = {}
    for href, method in candidates:
        url = _absolute(page_base, href)
        if not url:
            continue
        network = social_network(url)
        if not network:
            continue
        profile = profile_url(url, network)
        if network == "linkedin" and (linkedin is None or linkedin_rank(profile) < linkedin_rank(linkedin.value)):
            linkedin = Sourced(profile, page_url, method)
        socials.setdefault(network, Sourced(profile, page_url, method))
    if linkedin is not None:
        socials["linkedin"] = linkedin
    return linkedin, socials


def ats_links(tree: LexborHTMLParser, page_url: str) -> list[str]:
    """Absolute links to applicant-tracking systems, in page order, deduplicated."""
    page_base = base_url(tree, page_url)
    seen: dict[str, None] = {}
    for node in tree.css("a[href], iframe[src]")[:_MAX_LINKS]:
        url = _absolute(page_base, attr(node, "href") or attr(node, "src"))
        if not url:
            continue
        host = (urlsplit(url).hostname or "").lower()
        if any(host_matches(host, ats) for ats in ATS_HOSTS):
            seen.setdefault(url, None)
    return list(seen)
