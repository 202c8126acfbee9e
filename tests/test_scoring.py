"""Lead scoring: the documented feature vector, the score, the buckets, the rationale and the
revenue bucket rule; properties: the score never falls when a positive feature rises."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acra_enrich.scoring import (
    FEATURES,
    HIGH_AT,
    MEDIUM_AT,
    LeadInputs,
    bucket_of,
    feature_vector,
    rationale,
    revenue_bucket,
    score,
    score_lead,
)

NOW = datetime(2026, 12, 6, tzinfo=timezone.utc)


def test_weights_add_up_to_one() -> None:
    assert sum(w for w, _ in FEATURES.values()) == pytest.approx(1.0)


def test_the_feature_vector_as_documented() -> None:
    inputs = LeadInputs(
        fit={"industry": True, "status": True, "employees": None, "district": False},
        website_domain="acme.sg", verified_emails=1, contact_titles=("Managing Director", "Sales Executive", None),
        jobs_count=12, tech_stack=("wordpress", "hubspot", "wordpress"), enriched_at=NOW - timedelta(days=45),
        revenue_bucket="1M-10M")
    assert feature_vector(inputs, recheck_days=30, now=NOW) == {
        "icp_industry": 1.0, "icp_employees": 0.5, "icp_incorporation": 0.5, "icp_district": 0.0,
        "icp_keywords": 0.5, "website_found": 1.0, "verified_emails": 0.5, "decision_makers": 0.5,
        "hiring": 1.0, "tech_signals": 0.4, "freshness": 0.75, "revenue": 0.5}


@pytest.mark.parametrize("days, expected", [(None, 0.0), (0, 1.0), (30, 1.0), (60, 0.5), (90, 0.0), (400, 0.0)])
def test_freshness_decays_after_the_recheck_window(days: int | None, expected: float) -> None:
    enriched = None if days is None else NOW - timedelta(days=days)
    vector = feature_vector(LeadInputs(fit={}, enriched_at=enriched), recheck_days=30, now=NOW)
    assert vector["freshness"] == expected


@pytest.mark.parametrize("value, bucket", [(0.0, "Low"), (MEDIUM_AT - 0.0001, "Low"), (MEDIUM_AT, "Medium"),
                                           (HIGH_AT - 0.0001, "Medium"), (HIGH_AT, "High"), (1.0, "High")])
def test_buckets_at_their_thresholds(value: float, bucket: str) -> None:
    assert bucket_of(value) == bucket


def test_a_strong_and_a_weak_lead() -> None:
    strong = score_lead(LeadInputs(fit={"industry": True, "keywords": True}, website_domain="acme.sg",
                                   verified_emails=3, contact_titles=("CEO", "Head of IT"), jobs_count=6,
                                   tech_stack=("a", "b", "c", "d", "e"), enriched_at=NOW, revenue_bucket="100M+"),
                        recheck_days=30, now=NOW)
    # Employees, incorporation and district are not in this ICP: neutral, and never named.
    assert strong.score == pytest.approx(1 - 0.5 * (0.08 + 0.04 + 0.04)) and strong.bucket == "High"
    assert strong.rationale == "High (0.92): industry fits the ICP, verified emails, website found."
    weak = score_lead(LeadInputs(fit={"industry": True, "keywords": False}), recheck_days=30, now=NOW)
    assert weak.bucket == "Low" and weak.score == pytest.approx(0.15 + 0.5 * (0.08 + 0.04 + 0.04))
    assert weak.rationale == "Low (0.23): industry fits the ICP. Held back by no verified email and no website."
    sized = score_lead(LeadInputs(fit={"industry": True, "employees": True}), recheck_days=30, now=NOW)
    assert "company size fits" in sized.rationale
    assert weak.features_hash != strong.features_hash


def test_the_rationale_is_at_most_two_sentences_naming_features() -> None:
    vector = {name: 0.5 for name in FEATURES}
    text = rationale(vector, score(vector))
    assert text.count(". ") <= 1 and text.endswith(".")
    assert "Medium (0.50): industry fits the ICP, verified emails" in text


@pytest.mark.parametrize("kwargs, expected", [
    ({}, None),
    ({"paid_up_capital_sgd": 50_000}, ("<1M", "paid_up_capital")),
    ({"paid_up_capital_sgd": 500_000}, ("1M-10M", "paid_up_capital")),
    ({"employees_est": 30, "paid_up_capital_sgd": 5}, ("1M-10M", "employees")),
    ({"employees_est": 1000}, ("100M+", "employees")),
    ({"stated_sgd": 25_000_000, "employees_est": 3}, ("10M-100M", "stated")),
    ({"employees_est": 0, "paid_up_capital_sgd": 0}, None),
])
def test_revenue_bucket_rule(kwargs: dict[str, float], expected: tuple[str, str] | None) -> None:
    assert revenue_bucket(**kwargs) == expected  # type: ignore[arg-type]


unit = st.floats(min_value=0, max_value=1, allow_nan=False)
vectors = st.fixed_dictionaries({name: unit for name in FEATURES})


@given(vectors, st.sampled_from(sorted(FEATURES)), unit)
def test_the_score_is_monotone_in_each_feature(vector: dict[str, float], name: str, higher: float) -> None:
    raised = {**vector, name: max(vector[name], higher)}
    assert score(raised) >= score(vector)
    assert 0.0 <= score(vector) <= 1.0


fits = st.sampled_from([True, None, False])
counts = st.integers(min_value=0, max_value=20)


@given(st.dictionaries(st.sampled_from(["industry", "employees", "incorporation", "district", "keywords"]), fits),
       counts, counts, counts, st.integers(min_value=0, max_value=8), st.booleans())
def test_more_of_a_positive_input_never_lowers_the_score(fit: dict[str, bool | None], emails: int, jobs: int,
                                                           extra: int, tech: int, website: bool) -> None:
    def value(inputs: LeadInputs) -> float:
        return score_lead(inputs, recheck_days=30, now=NOW).score

    base = LeadInputs(fit=fit, website_domain="a.sg" if website else None, verified_emails=emails,
                      contact_titles=("Director",) * (emails % 3), jobs_count=jobs,
                      tech_stack=tuple(f"t{i}" for i in range(tech)), enriched_at=NOW - timedelta(days=jobs * 5))
    assert value(LeadInputs(**{**base.__dict__, "verified_emails": emails + extra})) >= value(base)
    assert value(LeadInputs(**{**base.__dict__, "jobs_count": jobs + extra})) >= value(base)
    assert value(LeadInputs(**{**base.__dict__, "website_domain": "a.sg"})) >= value(base)
    assert value(LeadInputs(**{**base.__dict__, "contact_titles": (*base.contact_titles, "CEO")})) >= value(base)
    assert value(LeadInputs(**{**base.__dict__, "enriched_at": NOW})) >= value(base)
    for criterion in fit:
        better = {**fit, criterion: True}
        assert value(LeadInputs(**{**base.__dict__, "fit": better})) >= value(base)
