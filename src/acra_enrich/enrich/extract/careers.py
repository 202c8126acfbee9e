"""Hiring and size signals: careers pages, open-job counts, employee-count hints."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from acra_enrich.enrich.extract.dom import attr, in_navigation, normalize_space

_MAX_TEXT = 200_000

_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "a dozen": 12,
}
_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?\s*[kK]\b|\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a dozen)"

_OPEN_JOBS = re.compile(
    rf"\b{_NUMBER}\s+(?:current\s+|open\s+|available\s+|active\s+|new\s+)?(?:job\s+)?"
    r"(?:open\s+)?(?:positions?|roles?|jobs?|vacanc(?:y|ies)|openings?|opportunit(?:y|ies))\b"
    r"(?!\s+(?:in\s+the\s+past|last\s+year|filled|since))",
    re.IGNORECASE,
)
_NO_JOBS = re.compile(
    r"\b(?:no|not\s+any|zero)\s+(?:current\s+|open\s+|available\s+)?(?:job\s+)?"
    r"(?:positions?|roles?|jobs?|vacanc(?:y|ies)|openings?)\s*(?:are\s+)?(?:open|available|at\s+(?:the|this)\s+moment|currently)?",
    re.IGNORECASE,
)
_JOB_SECTION = re.compile(r"\b(?:jobs?|positions?|openings?|vacanc(?:y|ies)|careers?|roles?)\b", re.IGNORECASE)

_EMPLOYEES = (
    re.compile(
        rf"\b(?:team|workforce|staff|family|crew)\s+of\s+(?:over\s+|more\s+than\s+|about\s+|around\s+|some\s+|nearly\s+|almost\s+)?"
        rf"{_NUMBER}\s*\+?",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b{_NUMBER}\s*\+?\s*(?:-|to|–)?\s*(?:\d[\d,]*\s*\+?\s*)?(?:dedicated\s+|full[- ]time\s+|talented\s+|skilled\s+|passionate\s+)?"
        r"(?:employees|staff(?:\s+members)?|team\s+members|professionals|engineers|consultants|specialists|"
        r"headcount|people\s+strong|strong\s+team|staff\s+strength)\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bemploy(?:s|ing)?\s+(?:over\s+|more\s+than\s+|about\s+|around\s+|some\s+|nearly\s+)?{_NUMBER}\b",
        re.IGNORECASE,
    ),
)
_YEAR_LIKE = re.compile(r"^(?:19|20)\d{2}$")


def _to_int(token: str) -> int | None:
    token = token.strip().lower()
    if token in _WORDS:
        return _WORDS[token]
    multiplier = 1
    if token.endswith("k"):
        multiplier = 1_000
        token = token[:-1].strip()
    try:
        value = float(token.replace(",", ""))
    except ValueError:
        return None
    return int(value * multiplier)


def employees_hint(text: str) -> int | None:
    """"team of 50+", "over 200 employees", "1,200 staff" -> the (lower-bound) number; None if absent."""
    text = text[:_MAX_TEXT]
    for pattern in _EMPLOYEES:
        for match in pattern.finditer(text):
            token = match.group(1)
            if _YEAR_LIKE.match(token):
                continue
            value = _to_int(token)
            if value and 1 <= value <= 1_000_000:
                return value
    return None


def open_jobs_from_text(text: str) -> int | None:
    """"12 open positions", "3 roles", "No open positions" (-> 0)."""
    text = text[:_MAX_TEXT]
    for match in _OPEN_JOBS.finditer(text):
        value = _to_int(match.group(1))
        if value is not None and 0 < value <= 10_000 and not _YEAR_LIKE.match(match.group(1)):
            return value
    if _NO_JOBS.search(text):
        return 0
    return None


def _labelled(node: LexborNode) -> bool:
    label = " ".join((attr(node, "id"), attr(node, "class"), attr(node, "aria-label")))
    return bool(_JOB_SECTION.search(label.replace("-", " ").replace("_", " ")))


def _heading_before(node: LexborNode) -> str:
    sibling = node.prev
    steps = 0
    while sibling is not None and steps < 6:
        if sibling.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            return normalize_space(sibling.text() or "")
        sibling = sibling.prev
        steps += 1
    return ""


def jobs_from_list(tree: LexborHTMLParser) -> int | None:
    """Items of the biggest list that sits in (or under a heading of) a jobs section."""
    best: int | None = None
    for lst in tree.css("ul, ol")[:500]:
        items = [li for li in lst.css("li") if li.parent is not None and li.parent.mem_id == lst.mem_id]
        if not items or len(items) > 500 or in_navigation(lst):
            continue
        in_section = _labelled(lst) or bool(_JOB_SECTION.search(_heading_before(lst)))
        ancestor = lst.parent
        depth = 0
        while not in_section and ancestor is not None and depth < 4:
            in_section = ancestor.tag in ("section", "div", "article") and _labelled(ancestor)
            ancestor = ancestor.parent
            depth += 1
        if in_section and (best is None or len(items) > best):
            best = len(items)
    return best
