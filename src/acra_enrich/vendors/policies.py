"""Pacing for vendor hosts, and the web client vendor calls go through.

Intervals follow each vendor's published limits (VENDOR_APIS.md), multiplied by
VENDOR_MIN_INTERVAL_SCALE; DuckDuckGo has no published safe rate, so it gets its own, slow
DDG_MIN_INTERVAL_S. Vendor APIs never use robots.txt, and their latency is their compute
time (an LLM answer, an actor run), not a sign of load, so their spacing does not adapt to it.
"""

from __future__ import annotations

from acra_enrich.config import Settings
from acra_enrich.vendors.datagovsg import RATE_WINDOW_S, base_urls, download_calls_per_window
from acra_enrich.web import HostPolicy, WebClient, make_web_client

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"

# (seconds between request starts at scale 1, requests in flight)
_LIMITS: dict[str, tuple[float, int]] = {
    "jina_keyless": (3.0, 2),  # 20 requests/min without a key
    "jina_key": (0.12, 4),  # 500 requests/min with one
    "tavily": (0.6, 2),  # 100 requests/min (development keys)
    "openai": (0.0, 4),  # bounded by tokens (budget) rather than requests
    "apify": (0.5, 2),  # a synchronous run holds its connection for minutes
    "lusha": (2.4, 1),  # 25 requests/min
    "zerobounce": (0.05, 4),  # /validate allows thousands per 10 s
    "zerobounce_bulk": (12.0, 1),  # /validatebatch: 5 calls/min
    "slack": (1.0, 1),  # incoming webhooks: one message per second
    "odoo": (0.1, 2),  # no published limit; Odoo Online throttles bursts
}


def api_policy(settings: Settings, name: str) -> HostPolicy:
    interval, concurrency = _LIMITS[name]
    return HostPolicy(min_interval_s=interval * settings.vendor_min_interval_scale, concurrency=concurrency,
                      robots=False, adaptive=False)


SEARXNG_CONCURRENCY = 2  # a self-hosted instance fans each search out to its engines: two at a time


def search_pacing(settings: Settings) -> dict[str, tuple[float, int]]:
    """Search provider -> (seconds between its searches, searches in flight): the search lane
    schedules by these, the web client enforces them."""
    return {
        "ddg": (settings.ddg_min_interval_s, 1),
        "searxng": (settings.searxng_min_interval_s, SEARXNG_CONCURRENCY),
        "tavily": (_LIMITS["tavily"][0] * settings.vendor_min_interval_scale, _LIMITS["tavily"][1]),
    }


def vendor_host_policies(settings: Settings) -> dict[str, HostPolicy]:
    """Base URL -> pacing, for `make_web_client(settings, host_policies=...)`."""
    policies = {
        # A website, not an API: adaptive pacing on top of the slow floor.
        settings.ddg_base_url: HostPolicy(min_interval_s=settings.ddg_min_interval_s, concurrency=1, robots=False),
        settings.jina_base_url: api_policy(settings, "jina_key" if settings.jina_api_key else "jina_keyless"),
        **({settings.searxng_base_url: HostPolicy(min_interval_s=settings.searxng_min_interval_s,
                                                  concurrency=SEARXNG_CONCURRENCY, robots=False, adaptive=False)}
           if settings.searxng_base_url else {}),
        settings.tavily_base_url: api_policy(settings, "tavily"),
        settings.openai_base_url or OPENAI_DEFAULT_BASE_URL: api_policy(settings, "openai"),
        settings.apify_base_url: api_policy(settings, "apify"),
        settings.lusha_base_url: api_policy(settings, "lusha"),
        settings.zerobounce_base_url: api_policy(settings, "zerobounce"),
        settings.zerobounce_bulk_base_url: api_policy(settings, "zerobounce_bulk"),
    }
    # data.gov.sg publishes a per-10-s limit rather than a spacing; one call at a time keeps
    # the limit without a burst, whichever of its two hosts a call goes to.
    for base in base_urls(settings):
        interval = RATE_WINDOW_S / download_calls_per_window(settings) * settings.vendor_min_interval_scale
        policies[base] = HostPolicy(min_interval_s=interval, concurrency=1, robots=False, adaptive=False)
    if settings.slack_webhook_url is not None:
        policies[settings.slack_webhook_url.get_secret_value()] = api_policy(settings, "slack")
    return policies


def make_vendor_web_client(settings: Settings, extra_policies: dict[str, HostPolicy] | None = None) -> WebClient:
    """The web client for vendor APIs: vendor pacing, and VENDOR_TIMEOUT_S instead of the page
    timeout (an LLM answer or a synchronous Apify run takes far longer than a page fetch).
    `extra_policies` adds hosts known only at run time (a tenant's Odoo).

    Kept apart from the crawler's client only for that timeout; it goes through the same
    boundary (proxy, SSRF guard, retries, size caps)."""
    vendor_settings = settings.model_copy(update={"crawler_timeout_s": settings.vendor_timeout_s})
    return make_web_client(vendor_settings, host_policies={**vendor_host_policies(settings), **(extra_policies or {})})
