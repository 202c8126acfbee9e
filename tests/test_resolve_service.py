"""CompanyEnrichmentService: internal mappings, budgeted lookups with caching, queue, TEMP ids."""

from __future__ import annotations

import time

import psycopg
import pytest

from acra_enrich.resolve import LookupRateLimited, LookupServerError, Mention, ResolutionStatus, WritePlan
from resolve_helpers import (
    DirectoryProvider,
    add_mapping,
    add_registry_company,
    make_service,
    queue_rows,
    snapshot,
)

ACME = {"Acme Pte Ltd": ("201912345N", "ACME PTE. LTD.")}


# --- 1. internal mappings ------------------------------------------------------------------


def test_internal_hit_answers_without_any_lookup(db: psycopg.Connection) -> None:
    add_mapping(db, "plan_code", "P0190", "201912345N")
    provider = DirectoryProvider(ACME)
    result = make_service(db, provider).resolve_company_id(plan_code=" p0190 ", customer_name="Someone Else Pte Ltd")
    assert result.status is ResolutionStatus.SUCCESS_INTERNAL
    assert (result.company_id, result.source, result.match_type) == ("201912345N", "plan_code", "plan_code")
    assert provider.calls == []
    assert queue_rows(db) == []


def test_mapping_priority_decides_between_keys(db: psycopg.Connection) -> None:
    add_mapping(db, "customer_name", "Acme Pte Ltd", "BY-NAME")
    add_mapping(db, "account_name", "ACME ACCOUNT", "BY-ACCOUNT")
    add_mapping(db, "normalized_name", "acme", "BY-NORMALISED")
    service = make_service(db, None)
    # account name outranks customer name outranks the normalised name
    assert service.resolve_company_id(customer_name="Acme Pte Ltd", account_name="ACME ACCOUNT").company_id == "BY-ACCOUNT"
    assert service.resolve_company_id(customer_name="Acme Pte Ltd").company_id == "BY-NAME"
    assert service.resolve_company_id(customer_name="ACME PRIVATE LIMITED").company_id == "BY-NORMALISED"
    # a row's own priority overrides its match type's rank
    add_mapping(db, "normalized_name", "globex", "GLOBEX-PREFERRED", priority=0)
    add_mapping(db, "customer_name", "Globex Ltd", "GLOBEX-EXACT")
    assert service.resolve_company_id(customer_name="Globex Ltd").company_id == "GLOBEX-PREFERRED"


def test_a_uen_known_to_the_registry_is_its_own_answer(db: psycopg.Connection) -> None:
    add_registry_company(db, "201912345N", "ACME PTE. LTD.")
    provider = DirectoryProvider()
    result = make_service(db, provider).resolve_company_id(uen="201912345n", customer_name="Whatever")
    assert (result.status, result.company_id, result.source) == (ResolutionStatus.SUCCESS_INTERNAL, "201912345N",
                                                                 "registry_uen")
    assert provider.calls == []


# --- 2. external lookup, cached ----------------------------------------------------------


def test_external_success_is_cached_so_a_second_call_makes_no_lookup(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider, budget=5)
    first = service.resolve_company_id(customer_name="Acme Pte Ltd")
    assert (first.status, first.company_id, first.source) == (ResolutionStatus.SUCCESS_EXTERNAL, "201912345N",
                                                              "directory")
    assert provider.calls == ["Acme Pte Ltd"]
    cached = db.execute("SELECT match_type, alias, company_id, source FROM company_mapping ORDER BY 1, 2").fetchall()
    assert cached == [
        ("customer_name", "Acme Pte Ltd", "201912345N", "directory"),
        ("normalized_name", "acme", "201912345N", "directory"),
        ("uen", "201912345N", "201912345N", "directory"),
    ]
    # the same name, and another spelling of it, in a fresh service (another run)
    again = make_service(db, provider, budget=5)
    for spelling in ("Acme Pte Ltd", "ACME PRIVATE LIMITED"):
        result = again.resolve_company_id(customer_name=spelling)
        assert (result.status, result.company_id) == (ResolutionStatus.SUCCESS_INTERNAL, "201912345N")
    assert provider.calls == ["Acme Pte Ltd"]
    assert again.budget_left == 5


def test_a_provider_answer_never_overwrites_an_imported_mapping(db: psycopg.Connection) -> None:
    add_mapping(db, "normalized_name", "acme holdings", "IMPORTED")
    provider = DirectoryProvider({"Acme Pte Ltd": ("201912345N", "Acme Holdings Pte Ltd")})
    make_service(db, provider).resolve_company_id(customer_name="Acme Pte Ltd")
    rows = dict(db.execute("SELECT alias, company_id FROM company_mapping WHERE match_type = 'normalized_name'"))
    assert rows == {"acme holdings": "IMPORTED", "acme": "201912345N"}


def test_the_sync_budget_is_spent_per_lookup_and_then_names_are_queued(db: psycopg.Connection) -> None:
    provider = DirectoryProvider({"Alpha Ltd": ("A1", "ALPHA LTD"), "Beta Ltd": ("B1", "BETA LTD")})
    service = make_service(db, provider, budget=1)
    assert service.resolve_company_id(customer_name="Alpha Ltd").status is ResolutionStatus.SUCCESS_EXTERNAL
    second = service.resolve_company_id(customer_name="Beta Ltd")
    assert (second.status, second.detail) == (ResolutionStatus.PENDING_LOOKUP, "sync lookup budget spent")
    assert provider.calls == ["Alpha Ltd"]
    # a per-call budget overrides the spent instance budget for that call only
    third = service.resolve_company_id(customer_name="Beta Ltd", sync_lookup_budget=1)
    assert third.status is ResolutionStatus.SUCCESS_EXTERNAL
    assert service.budget_left == 0


# --- 3. the queue ------------------------------------------------------------------------


def test_budget_zero_queues_one_request_per_normalised_name(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider, budget=0)
    results = [service.resolve_company_id(customer_name=n) for n in ("Acme Pte Ltd", "ACME PTE. LTD.", "acme")]
    assert {r.status for r in results} == {ResolutionStatus.PENDING_LOOKUP}
    assert {r.company_id for r in results} == {None}
    assert len({r.request_id for r in results}) == 1
    assert provider.calls == []
    assert [(name, key, status) for _, name, key, status, *_ in queue_rows(db)] == [
        ("Acme Pte Ltd", "acme", "pending")]


@pytest.mark.parametrize("failure", [
    LookupRateLimited("HTTP 429", retry_after_s=30),
    LookupServerError("HTTP 503"),
    RuntimeError("a bug in the provider"),
])
def test_a_failed_or_rate_limited_lookup_queues_and_never_raises(db: psycopg.Connection,
                                                                 failure: BaseException) -> None:
    provider = DirectoryProvider(ACME)
    provider.fail_next.append(failure)
    result = make_service(db, provider).resolve_company_id(customer_name="Acme Pte Ltd")
    assert (result.status, result.company_id) == (ResolutionStatus.PENDING_LOOKUP, None)
    assert type(failure).__name__ in (result.detail or "")
    assert [status for *_, status, _, _, _ in queue_rows(db)] == ["pending"]
    assert db.execute("SELECT count(*) FROM company_mapping").fetchone()[0] == 0


def test_not_found_and_ambiguous_answers_are_queued_not_guessed(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ambiguous=["Twin Co"])
    service = make_service(db, provider)
    missing = service.resolve_company_id(customer_name="Nobody Pte Ltd")
    tie = service.resolve_company_id(customer_name="Twin Co")
    assert missing.status is tie.status is ResolutionStatus.PENDING_LOOKUP
    assert (tie.detail or "").startswith("ambiguous")
    assert db.execute("SELECT count(*) FROM company_mapping").fetchone()[0] == 0


# --- 4. temporary ids ----------------------------------------------------------------------


def test_no_customer_name_gives_a_temp_id(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider)
    empty = service.resolve_company_id(customer_name="   ")
    nothing = service.resolve_company_id()
    assert (empty.status, empty.company_id, empty.temp_id) == (ResolutionStatus.TEMP_ASSIGNED, "TEMP_000001",
                                                               "TEMP_000001")
    assert nothing.company_id == "TEMP_000002"
    assert provider.calls == [] and queue_rows(db) == []


def test_a_field_too_long_to_be_a_key_is_neither_looked_up_nor_stored(db: psycopg.Connection) -> None:
    """Notes pasted into a name column: PostgreSQL could not even index such a key."""
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider)
    notes = " ".join(f"word{n}" for n in range(600))  # ~4,600 characters
    pasted = service.resolve_company_id(customer_name=notes, plan_code="P1")
    assert pasted.status is ResolutionStatus.TEMP_ASSIGNED
    assert pasted.detail == "customer name longer than 300 characters: not a name"
    assert service.resolve_company_id(customer_name=notes, plan_code="P1").temp_id == pasted.temp_id  # kept under P1
    code = service.resolve_company_id(plan_code="X" * 3000)
    assert code.status is ResolutionStatus.TEMP_ASSIGNED and code.temp_id != pasted.temp_id
    bulk = list(service.resolve_many([Mention.of(customer_name=notes, plan_code="P1"), Mention.of(uen="9" * 400),
                                      Mention.of(customer_name="Acme Pte Ltd", account_name="A" * 301)]))
    assert [r.status for r in bulk] == [ResolutionStatus.TEMP_ASSIGNED, ResolutionStatus.TEMP_ASSIGNED,
                                        ResolutionStatus.SUCCESS_EXTERNAL]
    assert bulk[0].temp_id == pasted.temp_id
    assert provider.calls == ["Acme Pte Ltd"] and queue_rows(db) == []
    longest = db.execute("SELECT max(length(alias)) FROM company_mapping").fetchone()
    assert longest is not None and longest[0] <= 300


def test_a_nameless_mention_keeps_its_temp_id_until_a_real_mapping_replaces_it(db: psycopg.Connection) -> None:
    service = make_service(db, DirectoryProvider())
    first = service.resolve_company_id(plan_code="P9")
    again = service.resolve_company_id(plan_code="p9")
    other = service.resolve_company_id(plan_code="P10")
    assert first.company_id == again.company_id == "TEMP_000001" and other.company_id == "TEMP_000002"
    assert again.status is ResolutionStatus.TEMP_ASSIGNED
    # a placeholder never hides a name: with a customer name the mention is looked up / queued
    named = service.resolve_company_id(plan_code="P9", customer_name="Named Co")
    assert named.status is ResolutionStatus.PENDING_LOOKUP
    # an import replaces the placeholder
    db.execute("UPDATE company_mapping SET company_id = 'REAL', source = 'import' WHERE alias = 'P9'")
    db.commit()
    assert service.resolve_company_id(plan_code="P9").status is ResolutionStatus.SUCCESS_INTERNAL


def test_with_enrichment_disabled_nothing_is_looked_up_or_queued(db: psycopg.Connection) -> None:
    add_mapping(db, "plan_code", "P1", "KNOWN")
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider, enabled=False)
    assert service.resolve_company_id(plan_code="P1").company_id == "KNOWN"
    result = service.resolve_company_id(customer_name="Acme Pte Ltd")
    assert (result.status, result.source) == (ResolutionStatus.TEMP_ASSIGNED, "disabled")
    assert provider.calls == [] and queue_rows(db) == []
    assert service.process_lookup_queue(10).claimed == 0


# --- bulk -------------------------------------------------------------------------------


def test_resolve_many_gives_the_answers_of_one_by_one_resolution(db: psycopg.Connection) -> None:
    add_mapping(db, "plan_code", "P1", "C1")
    add_mapping(db, "normalized_name", "globex", "C2")
    provider = DirectoryProvider(ACME)
    mentions = [
        Mention.of(plan_code="P1"), Mention.of(customer_name="GLOBEX LTD"), Mention.of(customer_name="Acme Pte Ltd"),
        Mention.of(customer_name="ACME LIMITED"), Mention.of(customer_name="Unknown Pte Ltd"),
        Mention.of(plan_code="P7"), Mention.of(plan_code="P7"), Mention.of(customer_name="Acme Ltd"),
    ]
    results = list(make_service(db, provider, budget=5).resolve_many(mentions, chunk_size=7))
    assert [(r.status.value, r.company_id) for r in results] == [
        ("SUCCESS_INTERNAL", "C1"),
        ("SUCCESS_INTERNAL", "C2"),
        ("SUCCESS_EXTERNAL", "201912345N"),
        ("SUCCESS_INTERNAL", "201912345N"),  # same chunk: the answer cached a row earlier is used
        ("PENDING_LOOKUP", None),
        ("TEMP_ASSIGNED", "TEMP_000001"),
        ("TEMP_ASSIGNED", "TEMP_000001"),  # same chunk, same mention: same TEMP id, none wasted
        ("SUCCESS_INTERNAL", "201912345N"),  # next chunk
    ]
    assert provider.calls == ["Acme Pte Ltd", "Unknown Pte Ltd"]
    assert db.execute("SELECT last_value FROM temp_id_sequence").fetchone()[0] == 1


# --- processing the queue ---------------------------------------------------------------


def test_processing_the_queue_looks_up_caches_and_marks_done(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider, budget=0)
    service.resolve_company_id(customer_name="Acme Pte Ltd")
    service.resolve_company_id(customer_name="Nobody Pte Ltd")
    report = service.process_lookup_queue(10)
    assert (report.claimed, report.done, report.retrying) == (2, 1, 1)
    rows = {name: (status, attempts, company_id) for _, name, _, status, attempts, _, company_id in queue_rows(db)}
    assert rows == {"Acme Pte Ltd": ("done", 0, "201912345N"), "Nobody Pte Ltd": ("pending", 1, None)}
    result = make_service(db, provider, budget=0).resolve_company_id(customer_name="ACME PTE. LTD.")
    assert (result.status, result.company_id) == (ResolutionStatus.SUCCESS_INTERNAL, "201912345N")
    assert provider.calls == ["Acme Pte Ltd", "Nobody Pte Ltd"]


def test_a_queued_name_mapped_meanwhile_is_settled_without_a_lookup(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider, budget=0)
    service.resolve_company_id(customer_name="Initech Ltd")
    add_mapping(db, "normalized_name", "initech", "IMPORTED")
    assert service.process_lookup_queue(10).done == 1
    assert provider.calls == []
    assert queue_rows(db)[0][3:] == ("done", 0, None, "IMPORTED")


def test_a_rate_limit_while_draining_hands_the_rest_back_untried(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider, budget=0)
    for name in ("Acme Pte Ltd", "Beta Ltd", "Gamma Ltd"):
        service.resolve_company_id(customer_name=name)
    provider.fail_next.extend([LookupServerError("HTTP 500"), LookupRateLimited("HTTP 429", retry_after_s=120)])
    report = service.process_lookup_queue(10)
    assert (report.claimed, report.retrying, report.released, report.done) == (3, 1, 2, 0)
    assert "rate-limited" in (report.stopped_reason or "")
    rows = db.execute("SELECT name, status, attempts, round(extract(epoch FROM next_attempt_at - updated_at)) "
                      "FROM lookup_requests ORDER BY id").fetchall()
    # the 500 counts as an attempt (retry in 300 s); the rate-limited rows do not (Retry-After 120 s)
    assert rows == [("Acme Pte Ltd", "pending", 1, 300), ("Beta Ltd", "pending", 0, 120), ("Gamma Ltd", "pending", 0, 120)]


def test_a_batch_that_outlasts_half_its_lease_hands_the_rest_back(db: psycopg.Connection) -> None:
    class SlowDirectory(DirectoryProvider):
        def lookup(self, name: str):  # type: ignore[no-untyped-def]
            time.sleep(0.002)  # longer than half the 1 ms lease below
            return super().lookup(name)

    provider = SlowDirectory({n: (f"ID-{n}", n) for n in ("A Ltd", "B Ltd", "C Ltd")})
    make_service(db, provider, budget=0).resolve_company_id(customer_name="A Ltd")
    make_service(db, provider, budget=0).resolve_company_id(customer_name="B Ltd")
    make_service(db, provider, budget=0).resolve_company_id(customer_name="C Ltd")
    report = make_service(db, provider, lease_s=0.001).process_lookup_queue(10)
    # one row per batch, the rest handed back untried each time, until all are done
    assert (report.done, report.released, report.claimed) == (3, 3, 6)
    assert provider.calls == ["A Ltd", "B Ltd", "C Ltd"]
    assert [row[3:5] for row in queue_rows(db)] == [("done", 0)] * 3


# --- plan-only mode ---------------------------------------------------------------------


def test_plan_mode_reports_every_write_and_makes_none(db: psycopg.Connection) -> None:
    add_mapping(db, "plan_code", "P1", "C1")
    before = snapshot(db)
    plan = WritePlan()
    provider = DirectoryProvider(ACME)
    service = make_service(db, provider, budget=1, plan=plan)
    external = service.resolve_company_id(customer_name="Acme Pte Ltd")
    queued = service.resolve_company_id(customer_name="Later Pte Ltd")
    temp = service.resolve_company_id(plan_code="P2")
    temp2 = service.resolve_company_id()
    assert external.status is ResolutionStatus.SUCCESS_EXTERNAL
    assert (queued.status, queued.request_id) == (ResolutionStatus.PENDING_LOOKUP, None)
    assert (temp.company_id, temp2.company_id) == ("TEMP_000001", "TEMP_000002")
    assert snapshot(db) == before
    assert dict(plan.counts) == {
        ("company_mapping", "insert"): 4,  # 3 cached aliases of the answer + 1 placeholder for P2
        ("lookup_requests", "insert"): 1,
        ("temp_id_sequence", "allocate"): 2,
    }
    assert {w.values.get("alias") for w in plan.writes if w.table == "company_mapping"} == {
        "Acme Pte Ltd", "acme", "201912345N", "P2"}


def test_plan_mode_queue_processing_claims_nothing(db: psycopg.Connection) -> None:
    provider = DirectoryProvider(ACME)
    make_service(db, provider, budget=0).resolve_company_id(customer_name="Acme Pte Ltd")
    before = snapshot(db)
    plan = WritePlan()
    report = make_service(db, provider, plan=plan).process_lookup_queue(10)
    assert (report.claimed, report.done) == (1, 1)
    assert snapshot(db) == before
    assert dict(plan.counts) == {("lookup_requests", "claim"): 1, ("lookup_requests", "update"): 1,
                                 ("company_mapping", "insert"): 3}
