"""Vendor clients against the sandbox's emulations, over real HTTP through the product's proxy path.

Assertions are on outcomes, on what the sandbox saw (its request log) and on `vendor_usage`;
nothing measures speed. The one time-based check is a lower bound: DuckDuckGo searches are
never closer together than DDG_MIN_INTERVAL_S.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
import structlog

from acra_enrich import budget
from acra_enrich.config import Settings, load_settings
from acra_enrich.sandbox.testing import SandboxHandle
from acra_enrich.sandbox.vendors.ddg import anomaly
from acra_enrich.sandbox.world import SandboxCompany
from acra_enrich.vendors import (
    ApifyClient,
    BudgetGate,
    Cooldown,
    JinaReader,
    LlmClient,
    LushaClient,
    SearchClient,
    SearxngClient,
    SlackClient,
    TavilyClient,
    VendorOutcome,
    Vendors,
    ZeroBounceClient,
    make_vendor_web_client,
    vendor_host_policies,
)
from acra_enrich.vendors.search import parse_results
from acra_enrich.web import WebClient
from vendor_helpers import company_where, sandbox, sb, vendor_bundle  # noqa: F401 (sandbox, sb: fixtures)

DDG_HOST = "html.duckduckgo.com"
HOSTS = {
    "ddg": DDG_HOST, "jina": "r.jina.ai", "tavily": "api.tavily.com", "openai": "api.openai.com",
    "apify": "api.apify.com", "lusha": "api.lusha.com", "zerobounce": "api.zerobounce.net",
    "zerobounce_bulk": "bulkapi.zerobounce.net", "slack": "hooks.slack.com", "searxng": "searxng.sandbox.test",
    "tavily_search": "api.tavily.com",
}
SCHEMA = {
    "type": "object",
    "properties": {"emails": {"type": "array", "items": {"type": "string"}},
                   "about_text": {"type": ["string", "null"]}},
    "required": ["emails", "about_text"],
    "additionalProperties": False,
}


def make_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name.upper(), value)
    return load_settings()


@pytest.fixture
async def web(sb: SandboxHandle) -> AsyncIterator[WebClient]:
    async with make_vendor_web_client(load_settings()) as client:
        yield client


def vendor_requests(sb: SandboxHandle, vendor: str) -> list[Any]:
    return sb.requests(host=HOSTS[vendor])


def site_company(sb: SandboxHandle, *extra: Callable[[SandboxCompany], bool]) -> SandboxCompany:
    return company_where(sb, lambda c: bool(c.truth.site_host), *extra)


# --- DuckDuckGo ---------------------------------------------------------------------------------


async def test_ddg_results_are_parsed_and_redirects_decoded(sb: SandboxHandle, web: WebClient) -> None:
    # A query for which the results page carries an advertisement block (the emulation adds one
    # for every fifth query by hash), so the test also proves ads are skipped.
    company = site_company(sb, lambda c: int(hashlib.sha1(f'"{c.name}" Singapore'.encode()).hexdigest(), 16) % 5 == 0)
    query = f'"{company.name}" Singapore'
    raw = await web.request("POST", load_settings().ddg_base_url, data={"q": query})
    assert "result--ad" in raw.text and "uddg=" in raw.text
    sb.reset()

    client = SearchClient(web, load_settings(), BudgetGate(load_settings()), cooldown=Cooldown())
    result = await client.search(query)

    assert result.status == "ok", result.detail
    urls = [h.url for h in result.hits]
    assert urls and all(u.startswith(("http://", "https://")) for u in urls)
    assert not any("duckduckgo.com" in u for u in urls)  # every uddg= redirect decoded
    assert not any("bizloans" in u for u in urls)  # the advertisement is not a result
    assert any(company.truth.domain in u for u in urls)
    assert all(h.title for h in result.hits)
    assert any(h.snippet for h in result.hits)
    assert len(vendor_requests(sb, "ddg")) == 1
    assert await client.budget.used("ddg") == 1  # type: ignore[union-attr]


async def test_ddg_202_is_rate_limited_and_every_caller_cools_down(sb: SandboxHandle, web: WebClient,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(monkeypatch, ddg_cooldown_s="600")
    sb.set_ddg_rate_limit(1)  # DuckDuckGo's own rule: the second query in the window gets HTTP 202
    shared = Cooldown()
    gate = BudgetGate(settings)
    first, second = SearchClient(web, settings, gate, cooldown=shared), SearchClient(web, settings, gate, cooldown=shared)

    assert (await first.search("Acme Singapore")).status == "ok"
    blocked = await first.search("Beta Singapore")
    assert (blocked.status, blocked.http_status, blocked.hits) == ("rate_limited", 202, ())
    # Cooling down: neither this client nor another one sharing the cool-down sends anything.
    assert (await first.search("Gamma Singapore")).status == "rate_limited"
    assert (await second.search("Delta Singapore")).status == "rate_limited"
    assert len(vendor_requests(sb, "ddg")) == 2
    assert await gate.used("ddg") == 2  # searches not sent took no budget


async def test_ddg_short_cooldown_setting_lets_searches_resume(sb: SandboxHandle, web: WebClient,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(monkeypatch, ddg_cooldown_s="0")
    sb.faults.inject("ddg", "202", 1)
    client = SearchClient(web, settings, None, cooldown=Cooldown())
    assert (await client.search("Acme Singapore")).status == "rate_limited"
    assert (await client.search("Acme Singapore")).status == "ok"
    assert len(vendor_requests(sb, "ddg")) == 2


async def test_ddg_changed_markup_is_an_error_not_zero_results(sb: SandboxHandle, web: WebClient) -> None:
    sb.faults.inject("ddg", "bad_json", 1)  # the emulation answers 200 with a layout we have never seen
    result = await SearchClient(web, load_settings(), None, cooldown=Cooldown()).search("Acme Singapore")
    assert result.status == "error"
    assert "unrecognised" in result.detail


def test_anomaly_page_is_recognised_even_with_http_200() -> None:
    page = parse_results(anomaly("acme").body.decode())
    assert page.anomaly and not page.hits


async def test_ddg_searches_are_spaced_by_min_interval(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(monkeypatch, ddg_min_interval_s="0.3")
    async with make_vendor_web_client(settings) as web:
        client = SearchClient(web, settings, None, cooldown=Cooldown())
        for query in ("one", "two", "three"):
            assert (await client.search(f"{query} Singapore")).status == "ok"
    starts = [r.t_monotonic for r in vendor_requests(sb, "ddg")]
    assert len(starts) == 3
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.3 - 0.03


def test_vendor_host_policies_pace_vendor_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T1/B1/abc")
    settings = load_settings(ddg_min_interval_s=20, vendor_min_interval_scale=2)
    policies = vendor_host_policies(settings)
    assert policies[settings.ddg_base_url].min_interval_s == 20
    assert policies[settings.zerobounce_bulk_base_url].min_interval_s == 24  # 5 calls/min, doubled
    assert all(p.robots is False for p in policies.values())
    assert "https://hooks.slack.com/services/T1/B1/abc" in policies


# --- SearXNG: what is not "zero results" ------------------------------------------------------------


async def test_searxng_results_come_from_its_json_api(sb: SandboxHandle, web: WebClient) -> None:
    company = site_company(sb)
    result = await SearxngClient(web, load_settings(), BudgetGate(load_settings())).search(f'"{company.name}" Singapore')
    assert result.status == "ok", result.detail
    assert any(company.truth.domain in h.url for h in result.hits) and all(h.title for h in result.hits)
    [seen] = vendor_requests(sb, "searxng")
    assert seen.method == "GET" and seen.path == "/search"


@pytest.mark.parametrize("mode,status,said", [
    ("202", "rate_limited", "engines are down"),  # 200, no results, upstream engines suspended
    ("403", "unauthorized", "search.formats"),  # the instance does not serve format=json
    ("429", "rate_limited", "limiter"),
])
async def test_searxng_refusals_are_not_zero_results(mode: str, status: str, said: str, sb: SandboxHandle,
                                                     web: WebClient) -> None:
    sb.faults.inject("searxng", mode)
    result = await SearxngClient(web, load_settings(), BudgetGate(load_settings())).search('"Acme" Singapore')
    assert (result.status, result.hits) == (status, ())
    assert said in result.detail


async def test_searxng_without_a_base_url_is_disabled(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch,
                                                       web: WebClient) -> None:
    settings = make_settings(monkeypatch, searxng_base_url="")
    result = await SearxngClient(web, settings, BudgetGate(settings)).search('"Acme" Singapore')
    assert result.status == "disabled" and vendor_requests(sb, "searxng") == []


# --- one call per vendor, for the parametrised checks --------------------------------------------

Call = Callable[[WebClient, Settings, BudgetGate], Awaitable[VendorOutcome]]


def _calls(company: SandboxCompany) -> dict[str, Call]:
    site = f"http://{company.truth.site_host}/"
    email = f"info@{company.truth.domain}"
    return {
        "ddg": lambda w, s, g: SearchClient(w, s, g, cooldown=Cooldown()).search(f'"{company.name}" Singapore'),
        "jina": lambda w, s, g: JinaReader(w, s, g).read(site),
        "tavily": lambda w, s, g: TavilyClient(w, s, g).extract([site]),
        "openai": lambda w, s, g: LlmClient(w, s, g).complete_json(
            [{"role": "user", "content": f"## {site}\nWrite to {email}."}], schema=SCHEMA, schema_name="t"),
        "apify": lambda w, s, g: ApifyClient(w, s, g).company_people(company.truth.linkedin_url or company.name),
        "lusha": lambda w, s, g: LushaClient(w, s, g).person(email=email),
        "zerobounce": lambda w, s, g: ZeroBounceClient(w, s, g).validate(email),
        "zerobounce_bulk": lambda w, s, g: ZeroBounceClient(w, s, g).validate_batch([email, f"sales@{company.truth.domain}"]),
        "slack": lambda w, s, g: SlackClient(w, s).post(f"{company.name} failed"),
        "searxng": lambda w, s, g: SearxngClient(w, s, g).search(f'"{company.name}" Singapore'),
        "tavily_search": lambda w, s, g: TavilyClient(w, s, g).search(f'"{company.name}" Singapore'),
    }


BUDGET_CAPS = {
    "ddg": "search_max_per_hour", "jina": "jina_max_per_hour", "tavily": "tavily_max_queries",
    "openai": "openai_daily_tokens_cap", "apify": "apify_max_runs_per_day", "lusha": "lusha_max_contact_lookups",
    "zerobounce": "zerobounce_max_verifications", "zerobounce_bulk": "zerobounce_max_verifications",
    "searxng": "searxng_max_per_hour", "tavily_search": "tavily_max_queries",
}


@pytest.mark.parametrize("vendor", list(BUDGET_CAPS))
async def test_every_vendor_answers_through_the_sandbox(vendor: str, sb: SandboxHandle, web: WebClient) -> None:
    settings = load_settings()
    result = await _calls(site_company(sb))[vendor](web, settings, BudgetGate(settings))
    assert result.status == "ok", result.detail
    assert len(vendor_requests(sb, vendor)) == 1


@pytest.mark.parametrize("vendor", list(BUDGET_CAPS))
async def test_exhausted_budget_stops_the_call_before_any_request(vendor: str, sb: SandboxHandle, web: WebClient,
                                                                   db: psycopg.Connection,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(monkeypatch, **{BUDGET_CAPS[vendor]: "3"})
    # Another process already spent this window's budget (vendor_usage is shared).
    name = "zerobounce" if vendor.startswith("zerobounce") else vendor.removesuffix("_search")
    window = BudgetGate(settings).cap(name)[1]
    assert budget.try_spend(db, name, 3, 3, window)

    result = await _calls(site_company(sb))[vendor](web, settings, BudgetGate(settings))

    assert result.status == "budget_exhausted"
    assert vendor_requests(sb, vendor) == []


async def test_search_budget_allows_exactly_the_cap(sb: SandboxHandle, web: WebClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(monkeypatch, search_max_per_hour="2")
    client = SearchClient(web, settings, BudgetGate(settings), cooldown=Cooldown())
    statuses = [(await client.search(f"q{i} Singapore")).status for i in range(4)]
    assert statuses == ["ok", "ok", "budget_exhausted", "budget_exhausted"]
    assert len(vendor_requests(sb, "ddg")) == 2


async def test_llm_reserves_tokens_and_refunds_what_the_answer_did_not_use(sb: SandboxHandle, web: WebClient) -> None:
    settings = load_settings()
    gate = BudgetGate(settings)
    result = await _calls(site_company(sb))["openai"](web, settings, gate)
    assert result.ok and result.usage is not None  # type: ignore[attr-defined]
    assert result.data is not None and "emails" in result.data  # type: ignore[attr-defined]
    assert await gate.used("openai") == result.usage.total_tokens  # type: ignore[attr-defined]


# --- disabled vendors ------------------------------------------------------------------------------

DISABLING = {
    "tavily": {"TAVILY_API_KEY": None},
    "openai": {"OPENAI_API_KEY": None},
    "apify": {"APIFY_TOKEN": None},
    "apify_flag": {"ENABLE_APIFY_LINKEDIN": "false"},
    "lusha": {"LUSHA_API_KEY": None},
    "lusha_flag": {"ENABLE_LUSHA_FALLBACK": "false"},
    "zerobounce": {"ZEROBOUNCE_API_KEY": None},
    "slack": {"SLACK_WEBHOOK_URL": None},
}


def _bundle_call(vendors: Vendors, vendor: str, company: SandboxCompany) -> Awaitable[VendorOutcome]:
    email = f"info@{company.truth.domain}"
    return {
        "tavily": lambda: vendors.tavily.extract([f"http://{company.truth.site_host}/"]),
        "openai": lambda: vendors.llm.complete_json([{"role": "user", "content": email}], schema=SCHEMA,
                                                    schema_name="t"),
        "apify": lambda: vendors.apify.company_people(company.name),
        "lusha": lambda: vendors.lusha.person(email=email),
        "zerobounce": lambda: vendors.zerobounce.validate(email),
        "slack": lambda: vendors.slack.post("hello"),
    }[vendor]()


@pytest.mark.parametrize("case", list(DISABLING))
async def test_missing_key_or_flag_disables_with_one_log_line_and_no_request(
        case: str, sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DISABLING[case].items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    settings = load_settings()
    vendor = case.removesuffix("_flag")
    company = site_company(sb)
    with structlog.testing.capture_logs() as logs:
        async with vendor_bundle(settings) as vendors:
            client = getattr(vendors, "llm" if vendor == "openai" else vendor)
            assert client.enabled is False
            outcomes = [await _bundle_call(vendors, vendor, company) for _ in range(2)]
    assert [o.status for o in outcomes] == ["disabled", "disabled"]
    disabled_lines = [e for e in logs if e["event"] == "vendor_disabled"]
    assert [e["vendor"] for e in disabled_lines] == [vendor]  # one line, and only for this vendor
    assert list(DISABLING[case])[0] in disabled_lines[0]["reason"]
    assert sb.requests() == []


async def test_jina_needs_no_key(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    company = site_company(sb)
    settings = load_settings()
    async with make_vendor_web_client(settings) as web:
        reader = JinaReader(web, settings, BudgetGate(settings))
        assert reader.enabled
        text = await reader.read_text(f"http://{company.truth.site_host}/")
        missing = await reader.read(f"http://no-such-company-{company.uen.lower()}.com.sg/")
    assert text is not None and company.brand in text
    assert missing.status == "error" and missing.http_status == 422


# --- ZeroBounce's HTTP 200 errors ------------------------------------------------------------------


async def test_zerobounce_200_with_error_is_a_failure_not_a_verdict(sb: SandboxHandle,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(monkeypatch, zerobounce_api_key="zb-invalid-key-0042")
    gate = BudgetGate(settings)
    company = site_company(sb)
    async with make_vendor_web_client(settings) as web:
        client = ZeroBounceClient(web, settings, gate)
        single = await client.validate(f"info@{company.truth.domain}")
        batch = await client.validate_batch([f"info@{company.truth.domain}", f"sales@{company.truth.domain}"])
    for result in (single, batch):
        assert result.status == "unauthorized"
        assert result.http_status == 200
        assert result.verdicts == ()
        assert "zb-invalid-key-0042" not in result.detail
    assert len(vendor_requests(sb, "zerobounce")) == 1 and len(vendor_requests(sb, "zerobounce_bulk")) == 1
    assert await gate.used("zerobounce") == 0  # nothing was verified, so nothing stays spent


# --- vendor failures degrade, never raise ----------------------------------------------------------

FAULT_VENDOR = {"ddg": "ddg", "jina": "jina", "tavily": "tavily", "openai": "openai", "apify": "apify",
                "lusha": "lusha", "zerobounce": "zerobounce", "zerobounce_bulk": "zerobounce", "searxng": "searxng",
                "tavily_search": "tavily"}


@pytest.mark.parametrize("mode,expected", [("429", "rate_limited"), ("500", "error"), ("503", "error")])
@pytest.mark.parametrize("vendor", list(FAULT_VENDOR))
async def test_vendor_429_and_5xx_become_statuses(vendor: str, mode: str, expected: str, sb: SandboxHandle,
                                                  web: WebClient) -> None:
    sb.faults.inject(FAULT_VENDOR[vendor], mode, 5)  # more than the client's retries
    settings = load_settings()
    gate = BudgetGate(settings)
    result = await _calls(site_company(sb))[vendor](web, settings, gate)
    assert result.status == expected, result.detail
    assert result.http_status == int(mode)
    assert vendor_requests(sb, vendor)
    refunded = {"tavily", "tavily_search", "openai", "lusha", "zerobounce", "zerobounce_bulk"}
    if vendor in refunded or (vendor == "apify" and mode == "429"):
        name = FAULT_VENDOR[vendor]
        assert await gate.used(name) == 0  # the vendor charged nothing for a refused call


async def test_apify_run_too_long_is_a_timeout(sb: SandboxHandle, web: WebClient) -> None:
    sb.faults.inject("apify", "timeout", 1)  # the emulation answers 408 like the real endpoint
    settings = load_settings()
    gate = BudgetGate(settings)
    result = await ApifyClient(web, settings, gate).company_people("Acme")
    assert (result.status, result.http_status) == ("timeout", 408)
    assert len(vendor_requests(sb, "apify")) == 1  # a POST that starts a paid run is never repeated
    assert await gate.used("apify") == 1  # the run goes on and is billed


async def test_slack_webhook_posts_text(sb: SandboxHandle, web: WebClient) -> None:
    client = SlackClient(web, load_settings())
    result = await client.post("3 companies failed in run 42")
    assert result.status == "ok"
    assert [m["payload"] for m in sb.slack_messages()] == [{"text": "3 companies failed in run 42"}]


# --- secrets ---------------------------------------------------------------------------------------

SECRETS = {
    "TAVILY_API_KEY": "tvly-invalid-Q7Z3SECRET",
    "OPENAI_API_KEY": "sk-invalid-Q7Z3SECRET",
    "APIFY_TOKEN": "apify_api_invalid_Q7Z3SECRET",
    "LUSHA_API_KEY": "lusha-invalid-Q7Z3SECRET",
    "ZEROBOUNCE_API_KEY": "zb-invalid-Q7Z3SECRET",
    "JINA_API_KEY": "jina_invalid_Q7Z3SECRET",
    "SLACK_WEBHOOK_URL": "slackinvalidQ7Z3SECRET",  # the webhook's last path segment (letters and digits)
}
SLACK_WEBHOOK_PATH = "/services/T000/B000/"


def secret_env(name: str, secret: str) -> str:
    """The setting's value: a Slack webhook is a URL whose path ends with the secret."""
    return f"http://hooks.slack.com{SLACK_WEBHOOK_PATH}{secret}" if name == "SLACK_WEBHOOK_URL" else secret


async def test_secrets_never_reach_outcomes_or_logs(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys the emulations reject (they echo key prefixes back, as OpenAI does), and keys that
    work but meet failures: no outcome detail and no log event may carry a key. A delivered
    Slack alert is logged too (its request URL is the webhook), so it is checked as well."""
    outcomes: list[VendorOutcome] = []
    company = site_company(sb)
    with structlog.testing.capture_logs() as logs:
        for rejected in (True, False):
            for name, value in SECRETS.items():
                monkeypatch.setenv(name, secret_env(name, value if rejected else value.replace("invalid", "good")))
            settings = load_settings()
            async with make_vendor_web_client(settings) as web:
                if not rejected:
                    assert (await SlackClient(web, settings).post("run 42 finished")).ok
                    for vendor in ("jina", "tavily", "openai", "apify", "lusha", "zerobounce", "slack"):
                        sb.faults.inject(vendor, "500", 5)
                gate = BudgetGate(settings)
                for vendor, call in _calls(company).items():
                    if vendor not in ("ddg", "searxng"):  # no key to leak
                        outcomes.append(await call(web, settings, gate))
                gate.close()
    assert all(o.status in ("unauthorized", "error") for o in outcomes), [o.status for o in outcomes]
    slack_token = SECRETS["SLACK_WEBHOOK_URL"].replace("invalid", "good")
    assert [m["webhook"] for m in sb.slack_messages()] == [SLACK_WEBHOOK_PATH + slack_token]
    text = json.dumps([repr(o) for o in outcomes]) + json.dumps(logs, default=repr)
    for value in SECRETS.values():
        for secret in (value, value.replace("invalid", "good")):
            assert secret not in text
            assert secret[:6] not in text  # nor a prefix a vendor echoes back ("sk-inv***")
