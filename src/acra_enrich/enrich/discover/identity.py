"""Does this homepage belong to this registered company? A 0..1 confidence with its reasons.

Weights (additive, then clamped to 0..1), and why:

  name      up to 0.45  rapidfuzz similarity of the legal name (suffix stripped by cleanco)
                        against <title> parts, og:site_name and JSON-LD/microdata names; the
                        domain label counts too, discounted (x0.9). Similarity below 0.5 earns
                        nothing (unrelated names still share a word or two), 1.0 earns 0.45.
                        Names alone are weak: many companies share words ("Acme Engineering
                        Works" vs "Acme Engineering").
  uen       +0.40       the company's own UEN printed on the page. UENs are unique and carry a
                        check letter, so this is the strongest single proof; with a good name
                        match it lifts the score close to 1.
  sg        +0.10       a Singapore postal address or a phone Singaporean as printed (+65, or a
                        6/8/9 number on a page showing it is in Singapore): the site is at least a
                        Singapore business, which a same-named foreign site is not.
  other UEN x0.25       a different *valid* UEN on the page and not ours: the page very likely
                        belongs to another registered entity (a look-alike). Multiplicative, so a
                        look-alike keeps its (small) name evidence and still ranks above pages
                        that carry no evidence at all.
  parked    x0.05, <=0.02  a for-sale/parking page belongs to nobody, whatever its title says.
  foreign   x0.15       a foreign namesake (foreign.py): an entity of the company's name with a
                        foreign legal form ("(M) Sdn. Bhd."), or a foreign registry number;
            x0.3        or a page whose country is not Singapore. Only when the page shows
                        neither the company's own UEN nor a Singapore address: negative
                        evidence outweighs a name match, positive proof outweighs it.

Resulting order on typical pages: right name + own UEN (~0.95) > right name, no UEN (~0.55)
> look-alike with another UEN (~0.1) > parked (~0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cleanco import basename
from rapidfuzz import fuzz

from acra_enrich.enrich.discover.foreign import foreign_evidence
from acra_enrich.enrich.facts import PageFacts
from acra_enrich.enrich.extract.signals import PageSignals
from acra_enrich.enrich.sites import registrable_domain

W_NAME = 0.45
W_UEN = 0.40
W_SG = 0.10
OTHER_UEN_FACTOR = 0.25
PARKED_FACTOR = 0.05
PARKED_CEILING = 0.02
FOREIGN_NAMESAKE_FACTOR = 0.15
FOREIGN_REGION_FACTOR = 0.3
NAME_FLOOR = 0.5
DOMAIN_DISCOUNT = 0.9

_PAREN = re.compile(r"\((?:s|sg|singapore|pte\.?|private|the)\)", re.IGNORECASE)
_ANY_PAREN = re.compile(r"\([^()]*\)")
_TITLE_SPLIT = re.compile(r"\s+[|\-–—:·•»]\s+|\s*\|\s*")
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class IdentityScore:
    score: float
    name_similarity: float
    name_source: str | None
    uen_match: bool
    other_uens: tuple[str, ...]
    sg_evidence: bool
    parked: bool
    reasons: tuple[str, ...]
    foreign: str | None = None  # why the page looks like a foreign namesake's

    @property
    def negative(self) -> bool:
        """Evidence against the page being the company's, whatever its name says."""
        return bool(self.parked or self.foreign or (self.other_uens and not self.uen_match))


def normalize_name(name: str) -> str:
    """Legal or display name -> comparable form: no legal suffix, no punctuation, lower case."""
    name = _PAREN.sub(" ", name or "")
    name = name.replace("&", " and ")
    try:
        stripped = basename(name)
    except Exception:  # cleanco on odd input: compare the unstripped name instead
        stripped = name
    name = _NON_WORD.sub(" ", stripped.lower())
    return _SPACE.sub(" ", name).strip()


def name_similarity(a: str, b: str) -> float:
    """Mean of token_set_ratio (tolerates extra words like "Home") and token_sort_ratio (penalises
    them a little, so a shared first word alone does not look like a match), in 0..1."""
    if not a or not b:
        return 0.0
    return (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 200.0


def _candidates(facts: PageFacts) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if facts.title:
        out.append((facts.title, "title"))
        out.extend((part, "title") for part in _TITLE_SPLIT.split(facts.title) if part.strip())
    for site_name in facts.site_names:
        out.append((site_name.value, site_name.method))
    return out


def _domain_similarity(company: str, url: str) -> float:
    label = registrable_domain(url).split(".")[0]
    compact = company.replace(" ", "")
    if not label or not compact:
        return 0.0
    return fuzz.ratio(compact, label.replace("-", "")) / 100.0 * DOMAIN_DISCOUNT


def identity_score(company_name: str, uen: str | None, facts: PageFacts, signals: PageSignals) -> IdentityScore:
    reasons: list[str] = []
    company = normalize_name(company_name)
    # A parenthesised qualifier ("(INTERNATIONAL)", "(ASIA PACIFIC)") is part of the legal
    # name that sites leave out of their own: compare both forms.
    forms = {company, normalize_name(_ANY_PAREN.sub(" ", company_name or ""))} - {""}
    best, source = 0.0, None
    for text, method in _candidates(facts):
        page_name = normalize_name(text)
        similarity = max(name_similarity(form, page_name) for form in forms) if forms else 0.0
        if similarity > best:
            best, source = similarity, method
    domain_sim = _domain_similarity(company, facts.url)
    if domain_sim > best:
        best, source = domain_sim, "domain"
    name_part = max(0.0, (best - NAME_FLOOR) / (1 - NAME_FLOOR)) * W_NAME
    score = name_part
    reasons.append(f"name {best:.2f} via {source or 'none'} (+{name_part:.2f})")

    page_uens = {u.value for u in facts.uens}
    wanted = uen.strip().upper() if uen else None
    uen_match = bool(wanted and wanted in page_uens)
    others = tuple(sorted(page_uens - {wanted} if wanted else page_uens))
    if uen_match:
        score += W_UEN
        reasons.append(f"own UEN {wanted} on page (+{W_UEN:.2f})")

    sg_address = facts.address is not None and facts.address.value.country in (None, "Singapore") and (
        facts.address.value.country == "Singapore" or bool(facts.address.value.postal_code)
    )
    sg_phone = any(p.singapore_evidence for p in facts.phones)
    sg = sg_address or sg_phone
    if sg:
        score += W_SG
        reasons.append("Singapore " + ("address" if sg_address else "phone") + f" (+{W_SG:.2f})")

    if others and not uen_match and wanted:
        score *= OTHER_UEN_FACTOR
        reasons.append(f"other UEN {', '.join(others[:3])} on page (x{OTHER_UEN_FACTOR})")
    foreign = None if uen_match or sg_address else foreign_evidence(company, facts)
    if foreign is not None:
        factor = FOREIGN_REGION_FACTOR if foreign.kind == "region" else FOREIGN_NAMESAKE_FACTOR
        if foreign.kind == "region" and sg_phone:
            foreign = None  # a Singapore line too: an SG company's overseas office
        else:
            score *= factor
            reasons.append(f"foreign namesake: {foreign.detail} (x{factor})")
    if signals.parked:
        score = min(score * PARKED_FACTOR, PARKED_CEILING)
        reasons.append("parked domain")
    if signals.blocked or signals.script_only or signals.empty:
        reasons.append("page content unavailable (blocked/script-only/empty): evidence incomplete")
    score = round(min(1.0, max(0.0, score)), 4)
    return IdentityScore(
        score=score,
        name_similarity=round(best, 4),
        name_source=source,
        uen_match=uen_match,
        other_uens=others,
        sg_evidence=sg,
        parked=signals.parked,
        reasons=tuple(reasons),
        foreign=foreign.detail if foreign else None,
    )
