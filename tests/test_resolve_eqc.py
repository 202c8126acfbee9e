"""The EQC-style client and provider over real HTTP, against the sandbox's EQC emulation.

The emulation (sandbox/vendors/eqc.py) is tested on its own with a tiny world; the
client, the provider and the service reach it exactly as in production, through the
sandbox server (`running_sandbox`): web client -> ENRICH_HTTP_PROXY -> http://eqc.sandbox.test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

import anyio
import psycopg
import pytest

from acra_enrich.config import Settings, load_settings, reset_settings_cache
from acra_enrich.resolve import ResolutionStatus
from acra_enrich.resolve.eqc import (
    EqcAuthError,
    EqcClient,
    EqcProvider,
    EqcRateLimitError,
    EqcServerError,
    EqcUnavailable,
)
from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import SandboxRequest
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.sandbox.vendors.eqc import eqc_company_id, make_handler
from acra_enrich.sandbox.world import SandboxCompany
from acra_enrich.web import make_web_client
from resolve_helpers import make_service, queue_rows

HOST = "eqc.sandbox.test"
TOKEN = "test-token"


@dataclass(frozen=True)
class Co:
    uen: str
    name: str
    status: str = "Live Company"


@dataclass
class TinyWorld:
    companies: list[Co]


WORLD = TinyWorld([
    Co("201912345N", "ZEBRA LOGISTICS PTE. LTD."),
    Co("201811111A", "ALPHA TRADING PTE. LTD."),
    Co("T08LL1234A", "ALPHA TRADING LLP"),
    Co("202000002C", "OMEGA FOODS PTE. LTD."),
    Co("201700003D", "OMEGA FOODS HOLDINGS PTE. LTD."),
])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=7, companies=60, hang_s=3) as sb:
        yield sb


@pytest.fixture
def eqc(sandbox: SandboxHandle, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    """The sandbox, clean, with the product's environment pointed at it (short timeouts)."""
    sandbox.reset()
    for name, value in {**sandbox.env(), "CRAWLER_TIMEOUT_S": "1", "CRAWL_RETRY_BACKOFF_S": "0"}.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield sandbox
    sandbox.reset()


def _settings(**overrides: object) -> Settings:
    return load_settings(**overrides)


def _eqc_requests(sb: SandboxHandle) -> list[str]:
    return [r.path for r in sb.requests(host=HOST)]


def _live(sb: SandboxHandle, skip: int = 0) -> SandboxCompany:
    """The `skip`-th live registry company of the sandbox world."""
    live = [c for c in sb.world.companies if c.status.startswith("Live")]
    return live[skip]


def _client_call(settings: Settings, method: str, *args: str, attempts: int | None = None) -> object:
    async def call() -> object:
        async with make_web_client(settings) as web:
            client = EqcClient(web, settings.eqc_base_url or "", settings.eqc_token,  # type: ignore[arg-type]
                               attempts=attempts)
            return await getattr(client, method)(*args)

    return anyio.run(call)


# --- the emulation on its own -----------------------------------------------------------------


def _get(handler, path: str, token: str | None = TOKEN, **query: str):  # type: ignore[no-untyped-def]
    headers = {"token": token} if token else {}
    return handler(SandboxRequest("GET", HOST, path, {k: [v] for k, v in query.items()}, headers))


def test_emulation_shapes_auth_and_faults() -> None:
    faults = Faults()
    handler = make_handler(WORLD, faults)
    body = json.loads(_get(handler, "/kg-api-hfd/api/search/", key="Alpha Trading Pte Ltd").body)
    assert body["total"] == 2 and {i["unite_code"] for i in body["list"]} == {"201811111A", "T08LL1234A"}
    omega = json.loads(_get(handler, "/kg-api-hfd/api/search/", key="omega foods").body)
    assert [i["companyId"] for i in omega["list"]] == [eqc_company_id("202000002C"), eqc_company_id("201700003D")]
    paged = json.loads(_get(handler, "/kg-api-hfd/api/search/searchAll", keyword="omega foods",
                            currentPage="2", pageSize="1").body)
    assert (paged["total"], len(paged["list"]), paged["currentPage"]) == (2, 1, 2)
    detail = json.loads(_get(handler, "/kg-api-hfd/api/search/findDepart", targetId=eqc_company_id("201912345N")).body)
    assert detail["businessInfodto"]["unite_code"] == "201912345N"
    assert json.loads(_get(handler, "/kg-api-hfd/api/search/findDepart", targetId="1").body) == {"businessInfodto": None}
    assert _get(handler, "/kg-api-hfd/api/search/", token=None, key="x").status == 401
    assert json.loads(_get(handler, "/kg-api-hfd/api/search/", token="invalid-token", key="x").body) == {
        "error": "TokenExpired"}
    faults.inject("eqc", "429")
    limited = _get(handler, "/kg-api-hfd/api/search/", key="x")
    assert limited.status == 429 and limited.headers["Retry-After"]
    assert _get(handler, "/kg-api-hfd/api/search/", key="zebra").status == 200


# --- the client over HTTP, through the sandbox server -----------------------------------------


def test_client_search_and_detail(eqc: SandboxHandle) -> None:
    company = _live(eqc)
    settings = _settings()
    candidates = _client_call(settings, "search_company", company.display_name)
    assert (candidates[0].name, candidates[0].uen) == (company.name, company.uen)  # type: ignore[index]
    detail = _client_call(settings, "get_company_detail", candidates[0].company_id)  # type: ignore[index]
    assert (detail.uen, detail.name, detail.status) == (company.uen, company.name, company.status)  # type: ignore[attr-defined]
    assert _client_call(settings, "get_company_detail", "123") is None
    assert _client_call(settings, "search_company", "nothing of the sort") == []
    assert all(path.startswith("/kg-api-hfd/api/search/") for path in _eqc_requests(eqc))


@pytest.mark.parametrize(("fault", "error"), [
    ("429", EqcRateLimitError),
    ("500", EqcServerError),
    ("503", EqcServerError),
    ("bad_json", EqcUnavailable),
    ("202", EqcUnavailable),
    ("timeout", EqcUnavailable),
])
def test_client_failures_surface_as_typed_errors(eqc: SandboxHandle, fault: str, error: type[Exception]) -> None:
    eqc.faults.inject("eqc", fault)
    with pytest.raises(error):
        _client_call(_settings(), "search_company", "Zebra", attempts=1)
    assert len(_eqc_requests(eqc)) == 1


def test_client_rate_limit_carries_retry_after_once_the_web_clients_retries_are_spent(eqc: SandboxHandle) -> None:
    eqc.faults.inject("eqc", "429", count=3)
    with pytest.raises(EqcRateLimitError) as caught:
        _client_call(_settings(), "search_company", "Zebra")
    assert caught.value.retry_after_s == 1.0
    assert len(_eqc_requests(eqc)) == 3
    eqc.faults.inject("eqc", "503", count=1)  # a passing blip is retried by the web client
    assert _client_call(_settings(), "search_company", _live(eqc).display_name)


def test_client_bad_token_is_an_auth_error_and_never_printed(eqc: SandboxHandle) -> None:
    with pytest.raises(EqcAuthError) as caught:
        _client_call(_settings(eqc_token="invalid-secret-xyz"), "search_company", "Zebra")
    assert "invalid-secret-xyz" not in str(caught.value)


# --- the provider and the service end to end ---------------------------------------------------


def test_service_resolves_through_eqc_and_caches(db: psycopg.Connection, eqc: SandboxHandle) -> None:
    company = _live(eqc)
    with EqcProvider(_settings()) as provider:
        service = make_service(db, provider, budget=5)
        result = service.resolve_company_id(customer_name=company.display_name)
        assert (result.status, result.company_id, result.source) == (ResolutionStatus.SUCCESS_EXTERNAL,
                                                                     company.uen, "eqc")
        assert [p.split("?")[0].rsplit("/", 1)[-1] for p in _eqc_requests(eqc)] == ["", "findDepart"]
        spelled_otherwise = company.name.replace("PTE. LTD.", "PRIVATE LIMITED").lower()
        again = make_service(db, provider).resolve_company_id(customer_name=spelled_otherwise)
        assert (again.status, again.company_id) == (ResolutionStatus.SUCCESS_INTERNAL, company.uen)
        assert len(_eqc_requests(eqc)) == 2  # no second lookup
        # a name EQC does not know is queued, not guessed
        unknown = service.resolve_company_id(customer_name="Quixotic Nonexistent Widgets Pte Ltd")
        assert unknown.status is ResolutionStatus.PENDING_LOOKUP


def test_rate_limited_eqc_lookup_queues_and_the_queue_settles_it_later(db: psycopg.Connection,
                                                                       eqc: SandboxHandle) -> None:
    company = _live(eqc, skip=1)
    with EqcProvider(_settings()) as provider:
        eqc.faults.inject("eqc", "429")
        result = make_service(db, provider).resolve_company_id(customer_name=company.display_name)
        assert (result.status, result.company_id) == (ResolutionStatus.PENDING_LOOKUP, None)
        assert "EqcRateLimitError" in (result.detail or "")
        assert [row[3] for row in queue_rows(db)] == ["pending"]
        # still limited when the queue runs: handed back untried, nothing counted against it
        eqc.faults.inject("eqc", "429")
        report = make_service(db, provider).process_lookup_queue(10)
        assert (report.released, report.done) == (1, 0)
        assert queue_rows(db)[0][3:5] == ("pending", 0)
        db.execute("UPDATE lookup_requests SET next_attempt_at = now()")
        db.commit()
        # the limit is over
        assert make_service(db, provider).process_lookup_queue(10).done == 1
        assert queue_rows(db)[0][3:] == ("done", 0, "rate-limited: EQC rate limit (HTTP 429)", company.uen)
