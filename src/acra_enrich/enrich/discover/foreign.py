"""Negative evidence that a homepage belongs to a foreign namesake, not to the Singapore company.

The obvious guess for "ACME BRIGHT ENGINEERING PTE. LTD." (acmebright.com.sg) is often a
Malaysian "Acme Bright Engineering (M) Sdn. Bhd." with a Kuala Lumpur address and +60 lines:
a perfect name match on the wrong company. What marks it, strongest first:

- entity: the page names an entity with a foreign legal form (Sdn. Bhd., Berhad, Pty Ltd,
  GmbH, PT ..., K.K., B.V.) whose name is the company's own name; or a weaker form
  (Co., Ltd., LLC, Inc, a bare "Limited") on a page whose country is not Singapore.
- registry: a foreign registry number (Malaysian company no. 1234567-X / 202001012345,
  Australian ABN/ACN, "registered in England", Hong Kong CR No.).
- region: the page's country (its address, its numbers' country codes: extract.region) is
  not Singapore, with no Singapore address or number on it.

`identity.identity_score` applies it only when the page shows neither the company's own UEN
nor a Singapore address (an SG company listing its Malaysian subsidiary is not a namesake).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from acra_enrich.enrich.facts import PageFacts

SCAN_CHARS = 100_000
SAME_NAME = 0.8  # the foreign entity's name is (almost) the company's
# Legal forms that are never Singaporean, and the country they say.
_STRONG_FORMS = re.compile(
    r"(?P<my>(?:\(\s*M\s*\)\s*)?Sdn\.?\s*Bhd\b\.?|\bBerhad\b|\bBhd\b\.?)"
    r"|(?P<au>\bPty\.?\s*(?:Ltd\b\.?|Limited\b))"
    r"|(?P<de>\bGmbH\b)|(?P<nl>\bB\.V\.)|(?P<jp>\bK\.K\.|\bKabushiki Kaisha\b)",
    re.IGNORECASE)
_PT_PREFIX = re.compile(r"\bPT\.?\s+((?:[A-Z][\w&'.-]*\s+){0,5}[A-Z][\w&'.-]*)")
# Forms a Singapore company does not use either ("Pte. Ltd." is), but that need another sign.
_WEAK_FORMS = re.compile(r"\bCo\.?,?\s*Ltd\b\.?|\bL\.?L\.?C\b\.?|\bInc\b\.?|(?<!Pte\. )(?<!Pte )(?<!Private )\bLimited\b",
                         re.IGNORECASE)
_REGISTRY = re.compile(
    r"(?:company|registration|reg\.?|co\.?|syarikat)\s*(?:no|number)\.?\s*:?\s*"
    r"(?:\d{12}\s*\(\s*\d{5,7}-[A-Z]\s*\)|\d{5,7}-[A-Z]\b|20\d{10}\b)"
    r"|\bA[BC]N\s*:?\s*\d{2,3}(?:\s?\d{3}){2,3}\b|\bregistered in england\b|\bCR\s*No\.?\s*:?\s*\d{7,8}\b",
    re.IGNORECASE)
_NAME_BEFORE = re.compile(r"((?:[A-Z0-9&][\w&'.-]*\s+){1,7})$")
_WORDS = re.compile(r"[^\w\s]+")


@dataclass(frozen=True)
class ForeignEvidence:
    kind: str  # entity | registry | region
    detail: str


def _norm(text: str) -> str:
    text = re.sub(r"\((?:m|s|sg)\)", " ", text, flags=re.IGNORECASE)
    return " ".join(_WORDS.sub(" ", text.lower()).split())


def _same_name(found: str, company: str) -> bool:
    a, b = _norm(found), _norm(company)
    return bool(a) and bool(b) and (fuzz.token_sort_ratio(a, b) + fuzz.token_set_ratio(a, b)) / 200 >= SAME_NAME


def _entities(text: str, forms: re.Pattern[str]) -> list[tuple[str, str]]:
    """(entity name, legal form) for each form in the text: the capitalised words before it."""
    out = []
    for match in forms.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        before = _NAME_BEFORE.search(text[max(line_start, match.start() - 120):match.start()])
        if before:
            out.append((before.group(1).strip(), match.group(0).strip()))
    return out


def foreign_evidence(company_base: str, facts: PageFacts) -> ForeignEvidence | None:
    """Why this page looks like a foreign namesake's, or None. `company_base` is the company's
    name without its legal suffix (identity.normalize_name)."""
    text = "\n".join(x for x in (facts.title or "", *(s.value for s in facts.site_names), facts.text[:SCAN_CHARS]) if x)
    for name, form in _entities(text, _STRONG_FORMS):
        if _same_name(name, company_base):
            return ForeignEvidence("entity", f"{name} {form}")
    for match in _PT_PREFIX.finditer(text):
        if _same_name(match.group(1), company_base):
            return ForeignEvidence("entity", f"PT {match.group(1)}")
    registry = _REGISTRY.search(text)
    if registry:
        return ForeignEvidence("registry", registry.group(0))
    region = facts.region if facts.region not in (None, "SG") else None
    foreign_phones = sorted({p.value[:3] for p in facts.phones if not p.value.startswith("+65")})
    if region is None and foreign_phones and not any(p.value.startswith("+65") for p in facts.phones):
        region = "country code " + "/".join(foreign_phones)
    if region is None:
        return None
    for name, form in _entities(text, _WEAK_FORMS):
        if _same_name(name, company_base):
            return ForeignEvidence("entity", f"{name} {form} ({region})")
    return ForeignEvidence("region", f"page in {region}")
