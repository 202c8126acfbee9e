"""Rationales rephrased by an LLM (issue 11 §2.6): the check that keeps a rephrasing only when it
names the features that drove the score and invents no number; and nightly runs on a real
PostgreSQL against the sandbox's OpenAI emulation (deterministic: it drops a fifth factor and
writes "hiring for 3 roles"), with the cache by features, a budget refusal and a failing
vendor, each falling back to the rule-based rationale and saying so in the summary."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from typer.testing import CliRunner

from acra_enrich.cli import app
from acra_enrich.scoring import FEATURES, bucket_of, rationale, score
from acra_enrich.scoring.features import unset_criteria
from acra_enrich.scoring.rephrase import cache_key, rejection
from acra_enrich.scoring.score import rationale_factors
from acra_enrich.sandbox.testing import SandboxHandle
from tests.nightly_helpers import ICP, make_tenant, nightly, nightly_env, registry_file, sandbox  # noqa: F401

vectors = st.fixed_dictionaries({name: st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) for name in FEATURES})


@hsettings(max_examples=300, deadline=None)
@given(vectors)
def test_the_rule_based_rationale_passes_its_own_check(vector: dict[str, float]) -> None:
    value = score(vector)
    drivers, weak = rationale_factors(vector, value)
    text = rationale(vector, value)
    assert rejection(text, rule_text=text, bucket=bucket_of(value), named=[*drivers, *weak]) is None


RULE = "Medium (0.52): industry fits the ICP, verified emails, website found. Held back by no decision-maker " \
       "contact and no hiring signal."
NAMED = ["icp_industry", "verified_emails", "website_found", "decision_makers", "hiring"]


@pytest.mark.parametrize("text, why", [
    ("A Medium lead (0.52): its industry is a match, we have checked e-mail addresses and a website, but no "
     "decision-maker contact and no sign of hiring.", None),
    ("A Medium lead (0.52): its industry is a match, checked e-mails and a website, but no decision-maker yet.",
     "drops hiring"),
    ("A Medium lead (0.52): industry match, verified emails, website, no decision-maker, not hiring, 80% fit.",
     "invents numbers: 80"),
    ("A Medium lead (0.52): industry match, verified emails, website, no decision-maker, not hiring, and a "
     "fresh tech stack.", "adds tech_signals, freshness"),
    ("A promising lead (0.52): industry match, verified emails, website, no decision-maker, not hiring.",
     "the bucket (Medium) is missing"),
    ("Medium. Industry match. Verified emails. Website. No decision-maker, not hiring.",
     "longer than two short sentences"),
    ("   ", "empty"),
])
def test_a_rephrasing_stands_only_when_it_says_the_same(text: str, why: str | None) -> None:
    assert rejection(text, rule_text=RULE, bucket="Medium", named=NAMED) == why


def emulated(rule_text: str) -> str | None:
    """What the sandbox's model answers for a rule-based rationale, if it passes the check
    (see sandbox/vendors/openai.py): None when it drops a factor or writes "hiring for 3 roles"."""
    head, _, held = rule_text.partition(" Held back by ")
    bucket_score, _, drivers = head.partition(": ")
    factors = [d for d in drivers.rstrip(".").split(", ") if d != "little fits"]
    weak = held.rstrip(".").split(" and ") if held else []
    if len(factors) + len(weak) > 4 or "hiring" in factors:
        return None
    bucket, value = bucket_score.split(" ")

    def join(parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    text = f"A {bucket}-priority lead at {value.strip('()')}" + (f": {join(factors)}" if factors else
                                                                  " with little that fits")
    return text + (f"; held back by {join(weak)}." if weak else ".")


def scored(db: psycopg.Connection, tenant: int) -> list[dict[str, Any]]:
    """Each lead with its rule-based rationale recomputed from its stored features."""
    unnamed = unset_criteria({criterion: True for criterion in ("industry", "status")})  # the helper's ICP
    assert set(ICP) == {"ssic_codes"}
    rows = db.execute("SELECT s.company_id, s.score, s.bucket, s.rationale, s.rationale_source, s.features_hash, "
                      "f.features FROM lead_scores s JOIN lead_features f USING (tenant_id, company_id) "
                      "WHERE s.tenant_id = %s ORDER BY s.company_id", (tenant,)).fetchall()
    out = []
    for company_id, value, bucket, text, source, fhash, vector in rows:
        rule = rationale(vector, value, unnamed)
        out.append({"company_id": company_id, "bucket": bucket, "text": text, "source": source, "rule": rule,
                    "key": cache_key(fhash, rule), "expected": emulated(rule)})
    return out


def openai_calls(sandbox: SandboxHandle) -> int:
    return sum(1 for r in sandbox.requests(host="api.openai.com") if r.path.endswith("/chat/completions"))


def rescore(db: psycopg.Connection, run_id: int) -> None:
    """As if the run had died before its score stage finished."""
    db.execute("UPDATE run_manifests SET status = 'running' WHERE run_id = %s AND stage IN ('score', 'odoo_sync')",
               (run_id,))
    db.execute("UPDATE enrichment_runs SET status = 'interrupted' WHERE run_id = %s", (run_id,))
    db.commit()


def test_rationales_are_rephrased_checked_and_cached(nightly_env: dict[str, str], db: psycopg.Connection,
                                                      sandbox: SandboxHandle) -> None:
    tenant = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    summary = nightly(tenant)
    assert summary.status == "done", summary.stop_reason
    leads = scored(db, tenant)
    assert len(leads) == 8
    accepted = [lead for lead in leads if lead["expected"]]
    refused = [lead for lead in leads if not lead["expected"]]
    assert accepted and refused, "the sandbox world should give both kinds"
    for lead in accepted:
        assert (lead["source"], lead["text"]) == ("llm", lead["expected"])
    for lead in refused:  # dropped a factor or invented a number: the rule-based text stays
        assert (lead["source"], lead["text"]) == ("rules", lead["rule"])
    r = summary.rationales
    assert (r.get("llm", 0) + r.get("cached", 0), r["rules"], r["rejected"]) == (len(accepted), len(refused),
                                                                                len(refused))
    cache = dict(db.execute("SELECT features_hash, rationale FROM rationale_cache").fetchall())
    assert cache == {lead["key"]: lead["expected"] for lead in accepted}
    # Odoo's lead gets the rationale the SDR reads.
    exported = {lead["company_id"]: lead["text"] for lead in leads if lead["bucket"] in ("High", "Medium")}
    descriptions = [lead["description"] for lead in sandbox.odoo.records("a", "crm.lead")]
    assert all(any(d.startswith(exported_text) for exported_text in exported.values()) for d in descriptions)

    # Scored again: the cache answers for every accepted vector; only the refused ones are asked again.
    rescore(db, summary.run_id)
    before = openai_calls(sandbox)
    again = nightly(tenant, from_manifest=summary.run_id)
    assert again.status == "done" and again.stages["score"] == "done"
    assert again.rationales.get("cached", 0) == len(accepted) and again.rationales.get("llm", 0) == 0
    assert openai_calls(sandbox) - before == len({lead["key"] for lead in refused})
    assert [(lead["source"], lead["text"]) for lead in scored(db, tenant)] == \
        [(lead["source"], lead["text"]) for lead in leads]


def test_a_budget_refusal_keeps_the_rule_based_rationale_and_says_so(
        nightly_env: dict[str, str], db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_DAILY_TOKENS_CAP", "0")
    make_tenant(db, "A")
    result = CliRunner().invoke(app, ["run", "nightly", "--tenant", "A"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "OPENAI_DAILY_TOKENS_CAP reached; rule-based rationale kept for 8 companies" in result.output
    assert "rationales:        LLM 0, LLM cached 0, rule-based 8 (OPENAI_DAILY_TOKENS_CAP reached 8)" in result.output
    leads = scored(db, 1)
    assert [(lead["source"], lead["text"]) for lead in leads] == [("rules", lead["rule"]) for lead in leads]
    assert db.execute("SELECT count(*) FROM rationale_cache").fetchone() == (0,)


def test_a_failing_llm_keeps_the_rule_based_rationale_and_says_so(
        nightly_env: dict[str, str], db: psycopg.Connection, sandbox: SandboxHandle) -> None:
    tenant = make_tenant(db, "A")
    first = nightly(tenant)
    db.execute("DELETE FROM rationale_cache")
    rescore(db, first.run_id)
    sandbox.faults.inject("openai", "500", 100)
    again = nightly(tenant, from_manifest=first.run_id)
    assert again.status == "done"
    assert again.rationales["rules"] == 8 and again.rationales["error"] == 8
    assert any(d.startswith("rationale rephrasing: the LLM failed (error 8); rule-based rationale kept for 8 "
                            "companies") for d in again.degraded), again.degraded
    leads = scored(db, tenant)
    assert [(lead["source"], lead["text"]) for lead in leads] == [("rules", lead["rule"]) for lead in leads]


def test_without_an_llm_the_rule_based_rationale_stays_and_the_run_says_so(
        nightly_env: dict[str, str], db: psycopg.Connection, sandbox: SandboxHandle,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    make_tenant(db, "A")
    result = CliRunner().invoke(app, ["run", "nightly", "--tenant", "A"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "rationales:        LLM 0, LLM cached 0, rule-based 8 (no LLM configured (OPENAI_API_KEY unset) 8)" \
        in result.output
    leads = scored(db, 1)
    assert [(lead["source"], lead["text"]) for lead in leads] == [("rules", lead["rule"]) for lead in leads]
    assert openai_calls(sandbox) == 0


def test_a_stated_revenue_figure_is_the_revenue_source_of_the_score(nightly_env: dict[str, str],
                                                                     db: psycopg.Connection) -> None:
    """companies.revenue_bucket: a figure the company's pages state comes before the estimates
    (scoring/revenue.py); the stage keeps the source, and the feature follows the bucket."""
    tenant = make_tenant(db, "A")
    first = nightly(tenant)
    targets = [r[0] for r in db.execute("SELECT company_id FROM nightly_targets WHERE run_id = %s ORDER BY position",
                                        (first.run_id,)).fetchall()]
    db.execute("UPDATE companies SET revenue_stated_sgd = 40000000, revenue_stated_text = 'S$40 million', "
               "revenue_stated_url = 'https://x.sg/about' WHERE company_id = %s", (targets[0],))
    db.execute("UPDATE companies SET revenue_stated_sgd = NULL WHERE company_id = ANY(%s)", (targets[1:],))
    rescore(db, first.run_id)
    assert nightly(tenant, from_manifest=first.run_id).status == "done"
    rows = db.execute("SELECT c.company_id, c.revenue_bucket, c.revenue_source, f.features ->> 'revenue' "
                      "FROM companies c JOIN lead_features f USING (company_id) WHERE c.company_id = ANY(%s) "
                      "ORDER BY c.company_id", (targets,)).fetchall()
    stated = {r[0]: r[1:] for r in rows if r[2] == "stated"}
    assert stated == {targets[0]: ("10M-100M", "stated", "0.75")}
    assert all(r[2] in ("employees", "paid_up_capital", None) for r in rows if r[0] != targets[0])
