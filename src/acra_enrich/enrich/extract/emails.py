"""Public email addresses: mailto links, Cloudflare email protection, visible text, obfuscations.

Every candidate goes through `clean_email`: lower-cased, syntax-checked by email-validator (no DNS),
its domain under a real public suffix, and dropped when it is an asset file name (`logo@2x.png`)
or a placeholder/tracker address. Text glued across markup ("...@acme.comSales:") is cut at
the domain's public suffix rather than read as an invented address.

Whose address it is: one in a web agency's credit line ("Website designed by ...", "Powered
by ...") is the agency's, and so is any address at a domain such a line links to. An address
on another registrable domain than the site's counts as the company's only in a contact
context (the contact page, a label such as "Email:" or "Enquiries:", structured data) or at
a webmail provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from email_validator import EmailNotValidError, validate_email
from selectolax.lexbor import LexborHTMLParser, LexborNode

from acra_enrich.enrich.extract.dom import BLOCK_TAGS, attr, normalize_space
from acra_enrich.enrich.facts import PageRole, Sourced
from acra_enrich.enrich.sites import has_public_suffix, host_matches, registrable_domain

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
_MAX_LINKS = 3_000
_BLOCK_CHARS = 400

# A credit line names whoever built or runs the site, not the company.
_CREDIT = re.compile(
    r"\b(?:designed|developed|powered|built|made|created|crafted|hosted|maintained|managed|optimi[sz]ed)\b"
    r"(?:\s+\S+){0,3}?\s+by\b|\b(?:website|web\s*site|web\s*design|web\s*development|site|design|seo|"
    r"digital\s+marketing|hosting)\s+by\b|\bsite\s+credits?\b",
    re.IGNORECASE,
)
# Labels that put an address in a contact context.
_CONTACT_LABEL = re.compile(
    r"(?:\be-?mail|\bE\s*:|enquir\w*|inquir\w*|\bcontact\w*|\bsales\b|\bmail\s+us|\bwrite\s+to|\breach\s+us|"
    r"get\s+in\s+touch|\binfo\b|\bcustomer\s+service|\bsupport\b|✉)",
    re.IGNORECASE,
)
_LABEL_REACH = 40
_URL_HOST = re.compile(r"https?://([a-z0-9.-]+)", re.IGNORECASE)
# Free mailbox providers small firms use for their business address.
_WEBMAIL = frozenset(
    "gmail.com googlemail.com yahoo.com yahoo.com.sg ymail.com rocketmail.com hotmail.com hotmail.sg outlook.com "
    "outlook.sg live.com live.com.sg msn.com icloud.com me.com mac.com aol.com protonmail.com proton.me gmx.com "
    "mail.com zoho.com zohomail.com qq.com 163.com 126.com sina.com yandex.com singnet.com.sg pacific.net.sg "
    "starhub.net.sg".split()
)
# Words that follow an address glued to the next text run ("...@acme.comSales:", "...@acme.sgtel").
_GLUED_WORDS = ("sales", "tel", "fax", "email", "phone", "mobile", "hp", "contact", "website", "www", "address",
                "office", "enquir", "hotline", "whatsapp", "call", "hours", "follow", "copyright")


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
    if tld in _ASSET_SUFFIXES or not _TLD.match(tld) or _RETINA.match(domain) or not has_public_suffix(domain):
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


def _block_text(node: LexborNode) -> str:
    """The text of the nearest block element around `node` (its line, as a reader sees it)."""
    parent = node.parent
    depth = 0
    while parent is not None and parent.tag not in BLOCK_TAGS and depth < 12:
        parent = parent.parent
        depth += 1
    return normalize_space((parent or node).text() or "")[:_BLOCK_CHARS]


def _context(block: str, label: str = "") -> str:
    if _CREDIT.search(block):
        return "credit"
    return "contact" if _CONTACT_LABEL.search(label or block) else "other"


def _from_links(tree: LexborHTMLParser) -> Iterable[tuple[str, str, str]]:
    for node in tree.css("a[href]")[:_MAX_LINKS]:
        href = attr(node, "href")
        lowered = href.lower()
        if lowered.startswith("mailto:"):
            context = _context(_block_text(node))
            for address in _mailto_addresses(href):
                yield address, "mailto", context
        elif "/cdn-cgi/l/email-protection#" in lowered:
            decoded = decode_cfemail(href.rsplit("#", 1)[1])
            if decoded:
                yield decoded, "cfemail", _context(_block_text(node))
    for node in tree.css("[data-cfemail]"):
        decoded = decode_cfemail(attr(node, "data-cfemail"))
        if decoded:
            yield decoded, "cfemail", _context(_block_text(node))


def _credit_domains(tree: LexborHTMLParser, text: str) -> set[str]:
    """Registrable domains that a credit line links to or names (the agency's own site)."""
    domains: set[str] = set()
    for node in tree.css('a[href^="http"]')[:_MAX_LINKS]:
        label = " ".join((normalize_space(node.text() or ""), attr(node, "title")))
        if _CREDIT.search(label) or _CREDIT.search(_block_text(node)):
            domains.add(registrable_domain(attr(node, "href")))
    # A reader's text keeps a credit's link as "[Agency](https://agency.sg)".
    for line in text[:_MAX_TEXT].split("\n"):
        if "http" in line and _CREDIT.search(line):
            domains.update(registrable_domain(m.group(1)) for m in _URL_HOST.finditer(line))
    return domains - {""}


def _deobfuscate(text: str) -> Iterable[tuple[int, str]]:
    for pattern in _OBFUSCATED:
        for match in pattern.finditer(text):
            local, first, rest = match.group(1), match.group(2), match.group(3)
            labels = [first] + [p for p in re.split(r"\.", _DOT_SEPARATOR.sub(".", rest)) if p]
            if len(labels) < 2:
                continue
            yield match.start(), f"{local}@{'.'.join(labels)}"


def unglue(address: str) -> str:
    """`customerservice@acme.comSales` -> `customerservice@acme.com`: an address the page's markup
    ran into the next word ends where its domain's public suffix does."""
    local, _, domain = address.rpartition("@")
    if not local or has_public_suffix(domain.lower()):
        return address
    head, _, last = domain.rpartition(".")
    cut = next((i for i in range(1, len(last)) if last[i - 1].islower() and last[i].isupper()), None)
    cuts = [cut] if cut else []
    cuts += [i for i in range(len(last) - 1, 1, -1) if last[i:].lower().startswith(_GLUED_WORDS)]
    for i in cuts:
        candidate = f"{head}.{last[:i]}" if head else last[:i]
        if has_public_suffix(candidate.lower()):
            return f"{local}@{candidate}"
    return address


def _from_text(text: str) -> Iterable[tuple[str, str, str]]:
    for line in text[:_MAX_TEXT].split("\n"):
        if "@" not in line and not re.search(r"\bat\b|\(at\)|\[at\]|\{at\}|<at>", line, re.IGNORECASE):
            continue
        credit = bool(_CREDIT.search(line))
        found = [(m.start(), unglue(m.group(1)), "text") for m in _EMAIL.finditer(line)]
        found += [(start, address, "obfuscated") for start, address in _deobfuscate(line)]
        for start, address, method in found:
            label = line[max(0, start - _LABEL_REACH):start]
            yield address, method, "credit" if credit else ("contact" if _CONTACT_LABEL.search(label) else "other")


def extract_emails(
    tree: LexborHTMLParser,
    text: str,
    page_url: str,
    structured: Iterable[tuple[str, str]] = (),
    *,
    role: PageRole = "other",
) -> list[Sourced[str]]:
    """The company's addresses on the page, first finder wins: links, then structured data, then text."""
    candidates = [*_from_links(tree), *((raw, method, "contact") for raw, method in structured), *_from_text(text)]
    site = registrable_domain(page_url)
    agencies = _credit_domains(tree, text) - {site}
    cleaned = [(clean_email(raw), method, context) for raw, method, context in candidates]
    agencies |= {registrable_domain(e.rsplit("@", 1)[1]) for e, _, context in cleaned if e and context == "credit"}
    found: dict[str, Sourced[str]] = {}
    for email, method, context in cleaned:
        if not email or email in found:
            continue
        domain = email.rsplit("@", 1)[1]
        owner = registrable_domain(domain)
        if context == "credit" or owner in agencies:
            continue
        foreign = owner != site and domain not in _WEBMAIL
        if foreign and context != "contact" and role != "contact":
            continue
        found[email] = Sourced(email, page_url, method)
    return list(found.values())
