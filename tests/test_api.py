"""The admin API over real HTTP (uvicorn in a thread) on the real database: every endpoint, every
auth case (no token, unknown token, wrong role, tenant pinning through RLS), and schemathesis's
generated requests against the running app's OpenAPI schema (no 5xx, answers as documented)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import hypothesis
import psycopg
import pytest
import schemathesis
import uvicorn

from acra_enrich import budget
from acra_enrich.api.app import create_app
from acra_enrich.api.auth import parse_tokens
from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.errors import ConfigError

OPERATOR = "operator-token-0123456789"
VIEWER = "viewer-token-0123456789ab"
PINNED = "pinned-operator-7-0123456"
PINNED_VIEWER = "pinned-viewer-7-012345678"
TOKENS = f"{OPERATOR}:operator,{VIEWER}:viewer,{PINNED}:operator:7,{PINNED_VIEWER}:viewer:7"


@dataclass
class Api:
    url: str
    conn: psycopg.Connection

    def get(self, path: str, token: str | None = VIEWER, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, headers=_auth(token), timeout=30, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, token: str | None = OPERATOR, **kwargs: object) -> httpx.Response:
        return httpx.post(self.url + path, headers=_auth(token), timeout=30, **kwargs)  # type: ignore[arg-type]


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="module")
def server(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSTGRES_DSN", pg_dsn)
        mp.setenv("ACRA_ENRICH_HOME", str(tmp_path_factory.mktemp("api")))
        mp.setenv("ADMIN_API_TOKENS", TOKENS)
        mp.setenv("SEARCH_MAX_PER_HOUR", "200")
        reset_settings_cache()
        app = create_app(load_settings())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    reset_settings_cache()


@pytest.fixture
def api(server: str, db: psycopg.Connection) -> Api:
    """Two tenants, a direct run (no tenant) and a run of tenant 7 with history."""
    db.execute("INSERT INTO tenants (tenant_id, name) VALUES (7, 'seven'), (8, 'eight')")
    db.execute("INSERT INTO companies (company_id, name, uen) VALUES (1, 'ALPHA PTE. LTD.', '201912345N')")
    db.execute("INSERT INTO enrichment_runs (run_id, kind, status, processed, summary) "
               "VALUES (1, 'direct', 'done', 3, '{\"stop_reason\": \"batch limit of 3 reached\"}')")
    db.execute("INSERT INTO enrichment_runs (run_id, kind, tenant_id, status, processed) VALUES (2, 'nightly', 7, 'running', 1)")
    db.execute("INSERT INTO company_enrichment_runs (run_id, tenant_id, company_id, status) VALUES (2, 7, 1, 'ok')")
    db.commit()
    return Api(server, db)


# ----------------------------------------------------------------------------------------- auth


@pytest.mark.parametrize("path", ["/runs", "/jobs", "/queue", "/vendors", "/metrics", "/runs/1"])
def test_no_token_or_an_unknown_one_is_401(api: Api, path: str) -> None:
    for token in (None, "not-a-token-of-ours-at-all"):
        answer = api.get(path, token)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert "not-a-token" not in answer.text


def test_a_viewer_may_read_but_not_write(api: Api) -> None:
    assert api.get("/runs").status_code == 200
    assert api.post("/jobs", VIEWER, json={"uens": ["201912345N"]}).status_code == 403
    assert api.post("/jobs/1/cancel", VIEWER).status_code == 403


def test_health_needs_no_token_and_says_the_schema_is_current(api: Api) -> None:
    answer = api.get("/health", None)
    assert answer.status_code == 200
    body = answer.json()
    assert body["database"] == "ok" and body["schema_up_to_date"] and body["schema_revision"] == body["schema_head"]


def test_bad_tokens_configuration_names_the_variable_not_the_token() -> None:
    with pytest.raises(ConfigError, match="ADMIN_API_TOKENS entry 2") as caught:
        parse_tokens(f"{OPERATOR}:operator,short-secret:admin")
    assert "short-secret" not in str(caught.value)


# ----------------------------------------------------------------------------------------- runs


def test_runs_of_every_kind_and_one_run_with_its_history(api: Api) -> None:
    runs = api.get("/runs").json()
    assert [(r["run_id"], r["kind"], r["tenant_id"]) for r in runs] == [(2, "nightly", 7), (1, "direct", None)]
    assert runs[1]["stop_reason"] == "batch limit of 3 reached"
    assert [r["run_id"] for r in api.get("/runs", params={"kind": "direct"}).json()] == [1]
    detail = api.get("/runs/2").json()
    assert (detail["status"], detail["companies_by_status"]) == ("running", {"ok": 1})
    assert api.get("/runs/99").status_code == 404


def test_a_pinned_token_sees_only_its_tenants_runs(api: Api) -> None:
    assert [r["run_id"] for r in api.get("/runs", PINNED_VIEWER).json()] == [2]
    assert api.get("/runs/1", PINNED_VIEWER).status_code == 404  # RLS hides it
    assert api.get("/runs/2", PINNED_VIEWER).status_code == 200


# ----------------------------------------------------------------------------------------- jobs


def test_enqueue_list_show_and_cancel_a_job(api: Api) -> None:
    first = api.post("/jobs", json={"uens": ["201912345N"], "priority": 5})
    assert first.status_code == 201 and first.json()["created"]
    job_id = first.json()["job_id"]
    again = api.post("/jobs", json={"uens": ["201912345N"], "priority": 5})
    assert again.status_code == 200 and again.json() == {"job_id": job_id, "created": False}

    listed = api.get("/jobs", params={"lane": "express", "status": "queued", "type": "acra_express_staging_upsert"}).json()
    assert [j["job_id"] for j in listed] == [job_id]
    assert api.get("/jobs", params={"lane": "nightly"}).json() == []
    shown = api.get(f"/jobs/{job_id}").json()
    assert (shown["priority"], shown["params"]["uens"]) == (5, ["201912345N"])

    cancelled = api.post(f"/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["result"] == "cancelled"
    assert api.post(f"/jobs/{job_id}/cancel").status_code == 409  # already cancelled
    assert api.post("/jobs/999999/cancel").status_code == 404


@pytest.mark.parametrize("body", [
    {"uens": ["201912345N"], "since": "2026-01-01T00:00:00+08:00"},  # both
    {},  # neither
    {"since": "2026-01-01T00:00:00"},  # no time zone
    {"uens": ["not a uen!"]},
])
def test_enqueue_is_validated_as_the_command_line_does(api: Api, body: dict[str, object]) -> None:
    answer = api.post("/jobs", json=body)
    assert answer.status_code == 422, answer.text
    assert api.conn.execute("SELECT count(*) FROM background_jobs").fetchone()[0] == 0


def test_a_pinned_operator_queues_for_its_tenant_only_and_sees_only_its_jobs(api: Api) -> None:
    assert api.post("/jobs", PINNED, json={"uens": ["201912345N"], "tenant_id": 8}).status_code == 403
    mine = api.post("/jobs", PINNED, json={"uens": ["201912345N"]}).json()["job_id"]
    others = api.post("/jobs", json={"uens": ["201912345N"], "tenant_id": 8}).json()["job_id"]
    assert api.conn.execute("SELECT tenant_id FROM background_jobs WHERE job_id = %s", (mine,)).fetchone() == (7,)
    assert [j["job_id"] for j in api.get("/jobs", PINNED_VIEWER).json()] == [mine]
    assert {j["job_id"] for j in api.get("/jobs").json()} == {mine, others}
    assert api.post(f"/jobs/{others}/cancel", PINNED).status_code == 404  # not its tenant's
    assert sum(r["jobs"] for r in api.get("/queue", PINNED_VIEWER).json()) == 1


def test_a_nightly_run_is_queued_for_today_once(api: Api) -> None:
    first = api.post("/admin/runs/nightly", params={"tenant_id": 7})
    assert first.status_code == 201
    again = api.post("/admin/runs/nightly", params={"tenant_id": 7})
    assert again.status_code == 200 and again.json()["job_id"] == first.json()["job_id"]
    row = api.conn.execute("SELECT lane, job_type, tenant_id FROM background_jobs WHERE job_id = %s",
                           (first.json()["job_id"],)).fetchone()
    assert row == ("nightly", "nightly_tenant", 7)
    assert api.post("/admin/runs/nightly", params={"tenant_id": 99}).status_code == 404
    assert api.post("/admin/runs/nightly", PINNED, params={"tenant_id": 8}).status_code == 403
    assert api.post("/admin/runs/nightly", VIEWER, params={"tenant_id": 7}).status_code == 403
    api.conn.execute("UPDATE tenants SET status = 'paused' WHERE tenant_id = 8")
    api.conn.commit()
    assert api.post("/admin/runs/nightly", params={"tenant_id": 8}).status_code == 409


# ------------------------------------------------------------------------- queue, vendors, metrics


def test_queue_vendors_and_metrics(api: Api) -> None:
    api.post("/jobs", json={"uens": ["201912345N"]})
    queue = api.get("/queue").json()
    assert [(r["lane"], r["status"], r["jobs"]) for r in queue] == [("express", "queued", 1)]
    assert budget.try_spend(api.conn, "ddg", 12, 200)
    api.conn.commit()
    vendors = {v["vendor"]: v for v in api.get("/vendors").json()}
    assert (vendors["ddg"]["window"], vendors["ddg"]["cap"], vendors["ddg"]["used"], vendors["ddg"]["left"]) == \
        ("hour", 200, 12, 188)
    text = api.get("/metrics").text
    assert 'acra_queue_jobs{lane="express",status="queued"} 1.0' in text
    assert 'acra_vendor_budget_remaining{vendor="ddg",window="hour"} 188.0' in text


# ----------------------------------------------------------------------------------- schemathesis


def test_generated_requests_get_documented_answers_and_no_server_error(api: Api) -> None:
    """Every operation of the served OpenAPI schema, with requests schemathesis generates from it
    (valid and invalid ones), as an operator: no 5xx, status codes and bodies as documented."""
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:
        @hypothesis.settings(max_examples=30, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {OPERATOR}"})

        exercise()
