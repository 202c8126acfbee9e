"""The feature vector of one company for one tenant (documented in scoring/__init__.py)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

# name -> (weight, what it says in a rationale when it counts)
FEATURES: dict[str, tuple[float, str]] = {
    "icp_industry": (0.15, "industry fits the ICP"),
    "icp_employees": (0.08, "company size fits"),
    "icp_incorporation": (0.04, "company age fits"),
    "icp_district": (0.04, "located in a target district"),
    "icp_keywords": (0.06, "ICP keywords found"),
    "website_found": (0.12, "website found"),
    "verified_emails": (0.15, "verified emails"),
    "decision_makers": (0.12, "decision-maker contacts"),
    "hiring": (0.06, "hiring"),
    "tech_signals": (0.06, "tech signals"),
    "freshness": (0.06, "fresh data"),
    "revenue": (0.06, "revenue estimate"),
}
_CRITERION_FEATURE = {"industry": "icp_industry", "employees": "icp_employees", "incorporation": "icp_incorporation",
                      "district": "icp_district", "keywords": "icp_keywords"}
NEUTRAL = 0.5  # an ICP criterion the tenant did not set, or one unknown for the company
_REVENUE_VALUE = {"<1M": 0.25, "1M-10M": 0.5, "10M-100M": 0.75, "100M+": 1.0}
# Titles of people who decide or strongly influence a purchase.
DECISION_MAKER = re.compile(
    r"\b(ceo|cto|cfo|coo|cmo|cio|chief|founder|co-founder|owner|partner|president|director|managing|md|"
    r"head|vp|vice president|general manager|gm|principal|proprietor)\b", re.I)


def is_decision_maker(title: str | None) -> bool:
    return bool(title and DECISION_MAKER.search(title))


@dataclass(frozen=True)
class LeadInputs:
    """What the product knows about a company, for one tenant."""

    fit: Mapping[str, bool | None]  # ICP criterion -> met / not met / unknown (only the ICP's criteria)
    website_domain: str | None = None
    verified_emails: int = 0
    contact_titles: Sequence[str | None] = field(default_factory=tuple)
    jobs_count: int | None = None
    tech_stack: Sequence[str] = field(default_factory=tuple)
    enriched_at: datetime | None = None
    revenue_bucket: str | None = None


def _ratio(n: int | None, full: int) -> float:
    return min(max(n or 0, 0), full) / full


def _freshness(enriched_at: datetime | None, recheck_days: int, now: datetime) -> float:
    if enriched_at is None:
        return 0.0
    days = max((now - enriched_at).total_seconds() / 86400, 0.0)
    horizon = max(recheck_days, 1)
    if days <= horizon:
        return 1.0
    return max(0.0, 1.0 - (days - horizon) / (2 * horizon))


def feature_vector(inputs: LeadInputs, *, recheck_days: int, now: datetime | None = None) -> dict[str, float]:
    now = now or datetime.now(timezone.utc)
    vector = {name: NEUTRAL for name in _CRITERION_FEATURE.values()}  # criteria the ICP does not set
    for criterion, met in inputs.fit.items():
        name = _CRITERION_FEATURE.get(criterion)
        if name is not None:
            vector[name] = 1.0 if met else (NEUTRAL if met is None else 0.0)
    vector.update({
        "website_found": 1.0 if inputs.website_domain else 0.0,
        "verified_emails": _ratio(inputs.verified_emails, 2),
        "decision_makers": _ratio(sum(1 for t in inputs.contact_titles if is_decision_maker(t)), 2),
        "hiring": _ratio(inputs.jobs_count, 5),
        "tech_signals": _ratio(len(set(inputs.tech_stack)), 5),
        "freshness": _freshness(inputs.enriched_at, recheck_days, now),
        "revenue": _REVENUE_VALUE.get(inputs.revenue_bucket or "", 0.0),
    })
    return {name: round(vector[name], 4) for name in FEATURES}


def unset_criteria(fit: Mapping[str, bool | None]) -> set[str]:
    """The ICP features of criteria the tenant did not set: a rationale does not name them."""
    return {name for criterion, name in _CRITERION_FEATURE.items() if criterion not in fit}


def features_hash(vector: Mapping[str, float]) -> str:
    return hashlib.sha1(json.dumps(dict(sorted(vector.items()))).encode()).hexdigest()
