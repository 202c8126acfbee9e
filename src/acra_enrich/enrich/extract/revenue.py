"""A revenue figure a company states on its own pages ("an annual turnover of S$12 million"),
read conservatively: a wrong figure is worse than none, since it outranks the estimates
(scoring/revenue.py).

`parse_amount` reads one amount as written: a currency (S$, SGD, SG$, US$, USD; any other
currency, or a bare "$", is not read), a number and an optional scale word ("million", "mn",
"m", "billion", "bn", "k", "thousand"). US dollars are converted at USD_TO_SGD: a bucket
boundary is a factor of ten, so a rate a few percent off changes nothing that matters.

`find_revenue` is the deterministic rule for clearly stated figures: the word revenue,
turnover or sales, then at most a few linking words ("of", "reached", "exceeded", "over",
"in FY2023") and the amount, in one sentence. It refuses a figure that reads as something
else: a change (growth, increase, grew by), a goal (target, aim, forecast, projected, expected),
someone else's (clients', customers'), a price (per unit, per month) or a range of statements
about others ("helped ... grow sales"). The LLM refine stage may find figures this misses; its
figure must occur in the page text too (refine/llm.py).
"""

from __future__ import annotations

import re

from acra_enrich.enrich.facts import Sourced, StatedRevenue

USD_TO_SGD = 1.35
METHOD = "text"

_CURRENCY = r"(?P<cur>S\$|SG\$|SGD|US\$|USD)"
_NUMBER = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_SCALE = r"(?P<scale>billion|bn|million|mil|mn|m|thousand|k)\b"
AMOUNT = re.compile(rf"{_CURRENCY}\s?{_NUMBER}(?:\s?{_SCALE})?(?![\d,.]*\d)", re.I)
_SCALES = {"billion": 1e9, "bn": 1e9, "million": 1e6, "mil": 1e6, "mn": 1e6, "m": 1e6, "thousand": 1e3, "k": 1e3}
# The statement: a revenue word, then linking words (no other number but a year) and the amount.
_LINK = (r"(?:\s+(?:of|is|was|at|about|around|approximately|nearly|over|above|exceeding|exceeded|reached|hit|"
         r"surpassed|topped|more\s+than|in\s+excess\s+of|close\s+to|(?:in|for)\s+(?:FY\s?)?(?:19|20)\d{2}|"
         r"(?:FY\s?)?(?:19|20)\d{2}|last\s+year|this\s+year|of\s+(?:about|around|over|more\s+than))|\s*[:\-–(),])*")
_STATEMENT = re.compile(rf"\b(?:annual\s+|yearly\s+|group\s+|total\s+)?(?:revenues?|turnover|sales)\b{_LINK}\s*"
                        rf"(?P<amount>{AMOUNT.pattern})", re.I)
# Words that make a figure something other than the company's revenue, in its sentence.
_NOT_REVENUE = re.compile(
    r"\b(?:grow(?:th|s|n)?|grew|increas\w*|boost\w*|rais\w*|uplift|add(?:ed|ing)?|target\w*|aim\w*|goal\w*|"
    r"forecast\w*|project\w*|expect\w*|plan\w*|potential|clients?'?|customers?'?|partners?'?|help\w*|"
    r"per\s+(?:unit|month|year|annum|hour|day|user|seat)|a\s+(?:month|year|unit)|savings?|sav(?:e|ed)|funding|"
    r"invest\w*|loan|grant)\b", re.I)
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.,](?=\d))+")  # a decimal point ends no sentence


def parse_amount(text: str) -> int | None:
    """The amount in Singapore dollars of the first amount in `text`, or None."""
    m = AMOUNT.search(text)
    if m is None:
        return None
    value = float(m.group("num").replace(",", "")) * _SCALES.get((m.group("scale") or "").lower(), 1.0)
    if m.group("cur").upper().startswith("US"):
        value *= USD_TO_SGD
    return round(value) if value >= 1 else None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def find_revenue(text: str, url: str) -> Sourced[StatedRevenue] | None:
    """The first revenue figure `text` states plainly (see the module docstring), or None."""
    for sentence in _sentences(text):
        m = _STATEMENT.search(sentence)
        if m is None or _NOT_REVENUE.search(sentence):
            continue
        amount = parse_amount(m.group("amount"))
        if amount is not None:
            return Sourced(StatedRevenue(amount, " ".join(m.group("amount").split())), url, METHOD)
    return None


def stated_in(text: str, figure: str) -> StatedRevenue | None:
    """An LLM's revenue `figure` when it is an amount the text prints (the same amount, in a
    sentence that is not about something else), else None."""
    amount = parse_amount(figure)
    if amount is None:
        return None
    for sentence in _sentences(text):
        if _NOT_REVENUE.search(sentence):
            continue
        for m in AMOUNT.finditer(sentence):
            if parse_amount(m.group(0)) == amount:
                return StatedRevenue(amount, " ".join(m.group(0).split()))
    return None
