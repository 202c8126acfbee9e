"""Singapore street addresses from visible text ("... Singapore 079903", "... S(079903)").

A Singapore postal code is 6 digits whose first two (the postal sector) run 01-82; finding one
makes city and country "Singapore". The street is what precedes the code on its line, or the one
or two address-looking lines just above it.
"""

from __future__ import annotations

import re

from acra_enrich.enrich.facts import Address

_MAX_TEXT = 200_000
_POSTAL = re.compile(
    r"(?:\bSingapore\s*[,(\-]?\s*\(?(?P<a>\d{6})\)?|\bS\s*\(\s*(?P<b>\d{6})\s*\)|\bSG\s+(?P<c>\d{6}))(?!\d)",
    re.IGNORECASE,
)
_STREET_WORDS = re.compile(
    r"\b(?:road|rd|street|st|avenue|ave|drive|dr|lane|ln|crescent|cres|boulevard|blvd|way|link|walk|close|"
    r"place|pl|park|centre|center|building|bldg|tower|plaza|point|square|quay|hill|rise|terrace|view|"
    r"industrial|estate|blk|block|level|unit|suite|floor|jalan|lorong)\b|#\d{1,3}-\d{1,5}",
    re.IGNORECASE,
)
_NOT_ADDRESS = re.compile(r"@|\b(?:tel|phone|fax|email|e-mail|mobile|whatsapp|hours|open)\b", re.IGNORECASE)
_LABEL = re.compile(
    r"^\s*(?:(?:our\s+)?(?:registered\s+)?(?:office|address|headquarters|hq|location|visit\s+us|find\s+us|"
    r"head\s+office|main\s+office)(?:\s+address)?\s*[:\-–]\s*)",
    re.IGNORECASE,
)
_SEGMENT_SPLIT = re.compile(r"\s+[|•·]\s+|\s{3,}")
# Without a postal code, a block number or a "#level-unit" is what marks a Singapore address.
_STREET_ONLY = re.compile(
    r"(?:\b(?:Blk|Block)\s*\d{1,4}[A-Z]?\b[^\n]{3,100})|(?:\b\d{1,5}[A-Z]?\s+[A-Z][\w'.-]*(?:\s+[\w'.-]+){0,5}"
    r"[^\n]{0,60}#\d{1,3}-\d{1,5}[^\n]{0,60})"
)

_SG_NAMES = frozenset({"sg", "sgp", "singapore", "republic of singapore"})


def normalize_country(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.lower() in _SG_NAMES:
        return "Singapore"
    return value[:60] or None


def valid_sg_postal(code: str) -> bool:
    return len(code) == 6 and code.isdigit() and 1 <= int(code[:2]) <= 82


def _clean_street(text: str) -> str | None:
    text = _SEGMENT_SPLIT.split(text)[-1]
    text = _LABEL.sub("", text).strip(" ,;:-–|")
    if not re.search(r"[A-Za-z]", text) or len(text) > 160:
        return None
    return text


def _addressy(line: str) -> bool:
    return len(line) <= 120 and not _NOT_ADDRESS.search(line) and bool(re.search(r"\d", line) or _STREET_WORDS.search(line))


def _street_before(lines: list[str], index: int, prefix: str) -> str | None:
    parts: list[str] = []
    own = _clean_street(prefix) if prefix.strip() else None
    if own:
        parts.append(own)
    # A line that already holds a numbered street is complete; otherwise look one or two lines up
    # (street on one line, "#unit building" on the next, then "Singapore 123456").
    if not own or not re.match(r"^(?:\d|blk|block)", own, re.IGNORECASE):
        for back in (1, 2):
            if index - back < 0 or len(parts) >= 2:
                break
            line = lines[index - back].strip()
            if not _addressy(line):
                break
            cleaned = _clean_street(line)
            if not cleaned:
                break
            parts.insert(0, cleaned)
            if re.match(r"^(?:\d|blk|block)", cleaned, re.IGNORECASE):
                break
    street = ", ".join(parts)
    return street or None


def address_from_text(text: str) -> Address | None:
    """First Singapore address in the text (postal code required, else a block/#unit street)."""
    lines = text[:_MAX_TEXT].split("\n")
    for index, line in enumerate(lines):
        for match in _POSTAL.finditer(line):
            code = match.group("a") or match.group("b") or match.group("c")
            if not valid_sg_postal(code):
                continue
            street = _street_before(lines, index, line[: match.start()])
            return Address(street=street, postal_code=code, city="Singapore", country="Singapore")
    street_only = _STREET_ONLY.search(text[:_MAX_TEXT])
    if street_only:
        street = _clean_street(street_only.group(0))
        if street:
            return Address(street=street, postal_code=None, city=None, country=None)
    return None
