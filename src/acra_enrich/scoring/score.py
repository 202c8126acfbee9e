"""Score, bucket and rationale from a feature vector (see scoring/__init__.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from acra_enrich.scoring.features import FEATURES, LeadInputs, feature_vector, features_hash, unset_criteria

HIGH_AT = 0.70
MEDIUM_AT = 0.45
_MISSING_TEXT = {
    "icp_industry": "industry outside the ICP", "icp_employees": "size outside or unknown",
    "icp_incorporation": "age outside or unknown", "icp_district": "outside the target districts",
    "icp_keywords": "no ICP keywords", "website_found": "no website", "verified_emails": "no verified email",
    "decision_makers": "no decision-maker contact", "hiring": "no hiring signal", "tech_signals": "few tech signals",
    "freshness": "stale data", "revenue": "revenue unknown or small",
}


@dataclass(frozen=True)
class LeadScore:
    features: dict[str, float]
    features_hash: str
    score: float
    bucket: str
    rationale: str
    named: tuple[str, ...] = ()  # the features the rationale names (drivers, then what held it back)


def score(vector: Mapping[str, float]) -> float:
    total = sum(weight * min(max(vector.get(name, 0.0), 0.0), 1.0) for name, (weight, _) in FEATURES.items())
    return round(min(max(total, 0.0), 1.0), 4)


def bucket_of(value: float) -> str:
    return "High" if value >= HIGH_AT else "Medium" if value >= MEDIUM_AT else "Low"


def rationale_factors(vector: Mapping[str, float], value: float, unnamed: set[str] | frozenset[str] = frozenset(),
                      ) -> tuple[list[str], list[str]]:
    """(drivers, held back): the features at half or more with the largest share of the score
    (at most three) and, below High, the features under half that cost the most (at most two).
    Features in `unnamed` (ICP criteria the tenant did not set) are never among them."""
    order = {name: i for i, name in enumerate(FEATURES)}
    named = [n for n in FEATURES if n not in unnamed]
    strong = sorted((n for n in named if vector.get(n, 0.0) >= 0.5),
                    key=lambda n: (-FEATURES[n][0] * vector.get(n, 0.0), order[n]))
    weak: list[str] = []
    if bucket_of(value) != "High":
        weak = sorted((n for n in named if vector.get(n, 0.0) < 0.5),
                      key=lambda n: (-FEATURES[n][0] * (1 - vector.get(n, 0.0)), order[n]))
    return strong[:3], weak[:2]


def rationale(vector: Mapping[str, float], value: float, unnamed: set[str] | frozenset[str] = frozenset()) -> str:
    """One or two sentences: what drove the score and what held it back (rationale_factors)."""
    drivers, weak = rationale_factors(vector, value, unnamed)
    text = f"{bucket_of(value)} ({value:.2f}): " + (", ".join(FEATURES[n][1] for n in drivers) or "little fits") + "."
    if weak:
        text += " Held back by " + " and ".join(_MISSING_TEXT[n] for n in weak) + "."
    return text


def score_lead(inputs: LeadInputs, *, recheck_days: int, now: datetime | None = None) -> LeadScore:
    vector = feature_vector(inputs, recheck_days=recheck_days, now=now)
    value = score(vector)
    unnamed = unset_criteria(inputs.fit)
    drivers, weak = rationale_factors(vector, value, unnamed)
    return LeadScore(vector, features_hash(vector), value, bucket_of(value), rationale(vector, value, unnamed),
                     (*drivers, *weak))
