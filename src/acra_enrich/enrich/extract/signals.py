"""Page-level signals: parked/for-sale domains, bot walls, script-only apps, empty pages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from acra_enrich.enrich.extract.dom import normalize_space, parse_html, sanitize_html, title_of, visible_text
from acra_enrich.enrich.sites import host_matches

_SCAN_CHARS = 300_000
_SCRIPT_ONLY_MAX_TEXT = 200
_EMPTY_MAX_TEXT = 20
_SHORT_PAGE = 1_500

# Domain marketplaces and parking providers; a parked lander links to or loads from one of them.
PARKING_HOSTS: tuple[str, ...] = (
    "sedo.com", "sedoparking.com", "dan.com", "afternic.com", "bodis.com", "parkingcrew.net", "above.com",
    "parklogic.com", "hugedomains.com", "undeveloped.com", "domainmarket.com", "buydomains.com", "parked.com",
    "parkingpage.namecheap.com", "smartname.com", "brandbucket.com", "squadhelp.com", "efty.com",
    "uniregistry.com", "domainnamesales.com", "namebright.com",
)
# Wording that only a for-sale/parking page uses.
_PARKED_STRONG = re.compile(
    r"this domain (?:name )?(?:may be|is) for sale|domain (?:name )?is for sale|buy this domain|"
    r"make (?:an|us an) offer on this domain|inquire about (?:purchasing )?this domain|this domain is parked|"
    r"this (?:web )?page is parked|parked free,? courtesy of|domain parking|is parked free|"
    r"the domain .{1,80} (?:may be )?for sale|this domain has expired|get this domain|"
    r"future home of something quite cool",
    re.IGNORECASE,
)
# Wording a parking lander uses that a real (short) page rarely does.
_PARKED_WEAK = re.compile(r"related searches|sponsored listings|domain for sale", re.IGNORECASE)

# Bot walls: markers that appear only on challenge/deny pages...
_BLOCKED_STRONG = re.compile(
    r"cf_chl_opt|cf-browser-verification|checking your browser before accessing|"
    r"enable javascript and cookies to continue|_incapsula_resource|incapsula incident id|"
    r"px-captcha|ddos-guard|please verify you are (?:a )?human|attention required! \| cloudflare|"
    r"sorry, you have been blocked|error 1020|access to this page has been denied",
    re.IGNORECASE,
)
_BLOCKED_TITLES = frozenset({"just a moment...", "just a moment", "attention required! | cloudflare", "access denied",
                             "403 forbidden", "forbidden", "are you a robot?", "security check"})
# ...and markers that mean it only when the page has almost nothing else (a contact form may
# carry a captcha; a real page may load Cloudflare's challenge-platform script).
_BLOCKED_WEAK = re.compile(
    r"captcha|access denied|forbidden|not authori[sz]ed|you have been blocked|are you a robot|unusual traffic|"
    r"/cdn-cgi/challenge-platform/|rate limit",
    re.IGNORECASE,
)
_APP_ROOTS = "#root, #app, #__next, #__nuxt, [ng-app], app-root, [data-reactroot], #___gatsby, #svelte"
_URL_HOSTS = re.compile(r"""(?:https?:)?//([a-z0-9.-]+\.[a-z]{2,})(?=[/:"'\s?#>]|$)""", re.IGNORECASE)


@dataclass(frozen=True)
class PageSignals:
    parked: bool
    script_only: bool
    blocked: bool
    empty: bool
    text_chars: int
    reasons: tuple[str, ...]


def page_signals(html: str, text: str | None = None) -> PageSignals:
    """Classify a fetched page; `text` is its visible text when the caller already has it."""
    html = sanitize_html(html)
    tree = parse_html(html)
    if text is None:
        text = visible_text(tree)
    text = normalize_space(text)
    chars = len(text)
    head = html[:_SCAN_CHARS]
    reasons: list[str] = []

    hosts = {m.group(1).lower() for m in _URL_HOSTS.finditer(head)}
    parking = sorted({p for p in PARKING_HOSTS for h in hosts if host_matches(h, p)})
    if parking:
        reasons.append("parking_host:" + ",".join(parking))
    strong = _PARKED_STRONG.search(text) or _PARKED_STRONG.search(title_of(tree) or "")
    if strong:
        reasons.append(f"parked_text:{strong.group(0).lower()[:60]}")
    weak = _PARKED_WEAK.search(text) if chars < _SHORT_PAGE else None
    if weak and not strong:
        reasons.append(f"parked_weak:{weak.group(0).lower()}")
    parked = bool(parking or strong or weak)

    title = (title_of(tree) or "").lower()
    blocked_strong = _BLOCKED_STRONG.search(head)
    blocked_weak = _BLOCKED_WEAK.search(head) if chars < 800 else None
    blocked = bool(blocked_strong or title in _BLOCKED_TITLES or blocked_weak)
    if blocked:
        marker = blocked_strong or blocked_weak
        reasons.append(f"blocked:{marker.group(0).lower()[:60] if marker else title}")

    scripts = len(tree.css("script"))
    app_root = tree.css_first(_APP_ROOTS) is not None
    # A bot wall also has scripts and little text; it is reported as blocked only, since the two
    # call for different remedies (back off vs. render or use a reader service).
    script_only = chars < _SCRIPT_ONLY_MAX_TEXT and (scripts > 0 or app_root) and not blocked
    if script_only:
        reasons.append(f"script_only:{chars}_chars,{scripts}_scripts" + (",app_root" if app_root else ""))
    empty = chars < _EMPTY_MAX_TEXT and not script_only
    if empty:
        reasons.append("empty")
    return PageSignals(
        parked=parked, script_only=script_only, blocked=blocked, empty=empty, text_chars=chars, reasons=tuple(reasons)
    )

