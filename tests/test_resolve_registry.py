"""The ACRA registry provider: rapidfuzz on normalised names, UEN-backed ids, ties not guessed."""

from __future__ import annotations

import psycopg

from acra_enrich.resolve import AcraRegistryProvider, ChainProvider, LookupRateLimited, ResolutionStatus
from resolve_helpers import DirectoryProvider, add_registry_company, make_service


def _registry(db: psycopg.Connection) -> None:
    add_registry_company(db, "201912345N", "ZEBRA LOGISTICS PTE. LTD.")
    add_registry_company(db, "201811111A", "ALPHA TRADING PTE. LTD.")
    add_registry_company(db, "T08LL1234A", "ALPHA TRADING LLP")
    add_registry_company(db, "199900001B", "OMEGA FOODS PTE. LTD.", status="Struck Off")
    add_registry_company(db, "202000002C", "OMEGA FOODS PRIVATE LIMITED", status="Live Company")
    add_registry_company(db, "201700003D", "KAIZEN ROBOTICS HOLDINGS PTE. LTD.")
    # known only in companies (not staged), e.g. entered by hand
    db.execute("INSERT INTO companies (uen, name, status) VALUES ('53312345X', 'Orchid Florist', 'Live')")
    db.commit()


def test_a_close_unique_match_returns_the_uen(db: psycopg.Connection) -> None:
    _registry(db)
    provider = AcraRegistryProvider(db)
    for spelling in ("Zebra Logistics Pte Ltd", "ZEBRA LOGISTICS", "zebra logistics private limited"):
        result = provider.lookup(spelling)
        assert result.found and result.match is not None
        assert (result.match.company_id, result.match.uen, result.match.source) == ("201912345N", "201912345N",
                                                                                   "acra_registry")
        assert result.match.confidence == 1.0
    florist = provider.lookup("ORCHID FLORIST")
    assert florist.match is not None and florist.match.company_id == "53312345X"


def test_below_the_threshold_is_not_found(db: psycopg.Connection) -> None:
    _registry(db)
    provider = AcraRegistryProvider(db)
    # shares a word but is another name
    assert provider.lookup("Kaizen Consulting Pte Ltd").outcome == "not_found"
    # a partial name is not the company
    assert provider.lookup("Kaizen Robotics").outcome == "not_found"
    assert provider.lookup("Nothing Like It").outcome == "not_found"
    # a lower threshold accepts the near miss
    assert AcraRegistryProvider(db, threshold=80).lookup("Kaizen Robotics Holding").found


def test_ambiguous_registry_matches_are_not_resolved(db: psycopg.Connection) -> None:
    _registry(db)
    result = AcraRegistryProvider(db).lookup("Alpha Trading")
    assert result.outcome == "ambiguous" and result.match is None
    assert {c.uen for c in result.candidates} == {"201811111A", "T08LL1234A"}
    # and through the service: queued, nothing cached
    service = make_service(db, AcraRegistryProvider(db))
    answer = service.resolve_company_id(customer_name="Alpha Trading Pte Ltd")
    assert answer.status is ResolutionStatus.PENDING_LOOKUP and answer.company_id is None
    assert (answer.detail or "").startswith("ambiguous: 2")
    assert db.execute("SELECT count(*) FROM company_mapping").fetchone()[0] == 0


def test_a_single_live_company_wins_over_a_dead_one_of_the_same_name(db: psycopg.Connection) -> None:
    _registry(db)
    result = AcraRegistryProvider(db).lookup("Omega Foods Pte Ltd")
    assert result.match is not None and result.match.company_id == "202000002C"


def test_service_with_registry_resolves_and_caches(db: psycopg.Connection) -> None:
    _registry(db)
    result = make_service(db, AcraRegistryProvider(db)).resolve_company_id(customer_name="Zebra Logistics Ltd")
    assert (result.status, result.company_id, result.source) == (ResolutionStatus.SUCCESS_EXTERNAL, "201912345N",
                                                                 "acra_registry")
    assert db.execute("SELECT count(*) FROM company_mapping WHERE source = 'acra_registry'").fetchone()[0] == 3


def test_chain_asks_the_next_provider_and_prefers_rate_limits_for_retry(db: psycopg.Connection) -> None:
    _registry(db)
    paid = DirectoryProvider({"Brand New Co": ("EXT-1", "BRAND NEW CO PTE LTD")})
    chain = ChainProvider([AcraRegistryProvider(db), paid])
    assert chain.lookup("Zebra Logistics").match.company_id == "201912345N"  # type: ignore[union-attr]
    assert paid.calls == []  # the free registry answered
    assert chain.lookup("Brand New Co").match.company_id == "EXT-1"  # type: ignore[union-attr]
    assert chain.lookup("Alpha Trading").outcome == "ambiguous"
    paid.fail_next.append(LookupRateLimited("429", retry_after_s=5))
    try:
        chain.lookup("Unknown Everywhere")
    except LookupRateLimited as exc:
        assert exc.retry_after_s == 5
    else:
        raise AssertionError("a rate limit must surface so the name is retried later")
