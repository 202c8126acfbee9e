"""The one settings object: every environment variable of DESIGN.md §4, typed and documented.

Field names are the variable names in lower case (pydantic-settings matches them
case-insensitively), so an error message can always name the variable the user set.
`.env` in the working directory is honoured; real environment variables win over it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from acra_enrich.errors import ConfigError

PRODUCT_USER_AGENT = "acra-enrich/0.1 (+https://github.com/acra-enrich/acra-enrich; company-website enrichment)"

SEARCH_PROVIDER_NAMES = ("ddg", "searxng", "tavily")
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    # --- database and data directory -------------------------------------------------
    postgres_dsn: SecretStr | None = Field(
        None, description="libpq DSN or postgresql:// URL; unset = embedded PostgreSQL under ACRA_ENRICH_HOME"
    )
    acra_enrich_home: Path = Field(Path(".acra-enrich"), description="data dir: embedded database, caches, logs")
    db_pool_max_size: PosInt = Field(10, description="connections in the pool per process")
    db_connect_timeout_s: PosFloat = Field(10, description="seconds to wait for a database connection")

    # --- direct runner (PRD 20) ------------------------------------------------------
    acra_direct_batch_limit: PosInt | None = Field(None, description="max companies per run; unset = unlimited")
    acra_direct_concurrency: PosInt = Field(1, description="companies enriched at once (1 = strictly one by one)")
    acra_direct_start_after_id: NonNegInt | None = Field(None, description="start after this staging id")
    acra_direct_start_from_uen: str | None = Field(None, description="start after this UEN (exclusive)")
    acra_direct_daily_cap: NonNegInt = Field(0, description="companies per Asia/Singapore day; 0 = unlimited")
    acra_direct_error_alert_threshold: Annotated[float, Field(ge=0, le=100)] = Field(
        5, description="failure percentage over the sliding window that triggers a Slack alert"
    )
    acra_direct_pause_on_error_spike: bool = Field(False, description="pause with backoff after an alert")
    acra_direct_error_window: Annotated[int, Field(ge=2)] = Field(
        50, description="companies in the sliding window the failure ratio is computed over"
    )
    acra_direct_pause_s: NonNegFloat = Field(
        60, description="first pause after a failure spike, seconds; doubles per consecutive spike (max 1 h)"
    )
    acra_direct_grace_s: NonNegFloat = Field(
        120, description="on SIGINT/SIGTERM, seconds in-flight companies get to finish before they are abandoned"
    )
    acra_direct_retries: NonNegInt = Field(
        3, description="retries of a company after a transient error (database or network), with backoff"
    )
    acra_direct_exclude_statuses: str = Field(
        "Dissolved,Struck Off,Gazetted to be Struck Off,Cancelled,Ceased Registration,Expired,Amalgamated,"
        "Converted,In Liquidation,Terminated,Deregistered",
        description="comma-separated entity statuses never enriched (case-insensitive prefixes; no status = live)",
    )

    # --- skip policy -------------------------------------------------------------------
    enrich_skip_if_any_history: bool = Field(False, description="skip a company with any enrichment history")
    enrich_recheck_days: NonNegInt = Field(30, description="skip a company enriched within this many days")

    # --- crawl / extract guards ----------------------------------------------------------
    crawler_timeout_s: PosFloat = Field(10, description="connect/read timeout per request, seconds")
    crawl_max_pages: PosInt = Field(8, description="pages fetched per company site")
    crawler_user_agent: str = Field(PRODUCT_USER_AGENT, min_length=1, description="User-Agent on every request")
    crawl_domain_min_interval_s: NonNegFloat = Field(0.5, description="minimum seconds between requests to one host")
    llm_max_chunks: PosInt = Field(4, description="corpus chunks sent to the LLM per company")
    extract_corpus_char_limit: PosInt = Field(40000, description="characters of page text kept per company")
    persist_crawl_corpus: bool = Field(False, description="store the crawl corpus in the history row")

    # --- network boundary ----------------------------------------------------------------
    enrich_http_proxy: str | None = Field(None, description="HTTP proxy for every outbound request")
    enrich_allow_private_networks: bool = Field(False, description="allow loopback/private targets (tests only)")
    enrich_dns_servers: str | None = Field(
        None, description="DNS servers for name lookups without a proxy, comma-separated IP[:port] (e.g. a local "
        "caching resolver); unset = the system's resolv.conf"
    )
    crawl_max_response_bytes: PosInt = Field(
        5 * 1024 * 1024, description="largest response body kept, bytes (compressed and decoded alike)"
    )
    crawl_retry_backoff_s: NonNegFloat = Field(
        0.5, description="first retry backoff, seconds; doubles per attempt, plus up to as much jitter"
    )
    crawl_retry_after_max_s: NonNegFloat = Field(
        30, description="longest Retry-After honoured, seconds; a server asking for more is given up on"
    )

    # --- vendor endpoints ----------------------------------------------------------------
    ddg_base_url: str = Field("https://html.duckduckgo.com/html/", description="DuckDuckGo HTML endpoint")
    jina_base_url: str = Field("https://r.jina.ai/", description="Jina reader")
    tavily_base_url: str = Field("https://api.tavily.com", description="Tavily API")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset = the SDK default")
    apify_base_url: str = Field("https://api.apify.com", description="Apify API")
    lusha_base_url: str = Field("https://api.lusha.com", description="Lusha API")
    zerobounce_base_url: str = Field("https://api.zerobounce.net", description="ZeroBounce API")
    zerobounce_bulk_base_url: str = Field("https://bulkapi.zerobounce.net", description="ZeroBounce batch API (validatebatch)")
    eqc_base_url: str | None = Field(None, description="EQC-style company lookup API")
    searxng_base_url: str | None = Field(
        None, description="self-hosted SearXNG instance (its JSON API, format=json enabled); unset = not used"
    )
    vendor_timeout_s: PosFloat = Field(
        120, description="wall-clock cap per vendor API request, seconds (LLM answers, Jina renders and Apify runs are slow)"
    )
    vendor_min_interval_scale: NonNegFloat = Field(
        1.0, description="multiplies each vendor API's built-in request spacing; 0 = no spacing (sandbox, tests)"
    )
    ddg_min_interval_s: NonNegFloat = Field(15, description="minimum seconds between DuckDuckGo searches")
    ddg_cooldown_s: NonNegFloat = Field(
        900, description="seconds every search waits after DuckDuckGo answers with its rate-limit page"
    )
    searxng_min_interval_s: NonNegFloat = Field(1.0, description="minimum seconds between SearXNG searches")
    search_providers: str = Field(
        "ddg,searxng,tavily", description="web search providers in order of preference (ddg, searxng, tavily); "
        "a company's search goes to the first one free, the others take over while it is busy, rested or spent"
    )
    search_rest_s: NonNegFloat = Field(
        120, description="seconds a search provider (other than DuckDuckGo: DDG_COOLDOWN_S) is rested after it "
        "rate-limits or fails"
    )
    search_lane_max_parked: PosInt = Field(
        200, description="companies waiting for a web search without holding a concurrency slot; past this, "
        "a company waits in its slot (back-pressure on the sweep)"
    )

    # --- admin API (`acra-enrich serve`) -----------------------------------------------------
    admin_api_tokens: SecretStr | None = Field(
        None, description="bearer tokens of the admin API: token:role[:tenant_id], comma-separated; role viewer "
        "(read) or operator (also queue and cancel); a tenant id pins the token to that tenant's runs and jobs"
    )
    admin_api_host: str = Field("127.0.0.1", description="address `acra-enrich serve` listens on")
    admin_api_port: Annotated[int, Field(ge=1, le=65535)] = Field(8088, description="port `acra-enrich serve` listens on")

    # --- data.gov.sg (`fetch acra`) --------------------------------------------------------
    datagovsg_base_url: str | None = Field(
        None, description="one base URL for every data.gov.sg API call; unset = the real hosts "
        "(api-production.data.gov.sg for metadata, api-open.data.gov.sg for downloads)"
    )
    datagovsg_api_key: SecretStr | None = Field(None, description="optional data.gov.sg key (x-api-key): higher rate limits")
    datagovsg_downloads_per_10s: PosInt | None = Field(
        None, description="download API calls per 10 s; unset = data.gov.sg's limit, 2 without a key and 4 with "
        "a (development) key; production keys allow 10"
    )
    datagovsg_poll_interval_s: PosFloat = Field(3, description="seconds between poll-download calls while a file is prepared")
    datagovsg_max_wait_s: PosFloat = Field(
        900, description="longest a dataset may wait for its file (polling, answers of 429), seconds"
    )
    datagovsg_download_timeout_s: PosFloat = Field(3600, description="wall-clock cap per file download, seconds")
    datagovsg_max_file_bytes: PosInt = Field(4 << 30, description="largest registry file downloaded, bytes")

    # --- vendor credentials (a missing key disables the vendor) -------------------------------
    tavily_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    langchain_model: str = Field("gpt-4o-mini", description="chat model name for llm_extract")
    llm_max_output_tokens: PosInt = Field(1024, description="completion tokens asked for (and reserved) per LLM call")
    jina_api_key: SecretStr | None = Field(None, description="optional Jina reader key (higher rate limit)")
    apify_token: SecretStr | None = None
    enable_apify_linkedin: bool = False
    apify_linkedin_actor: str = Field(
        "harvestapi~linkedin-company-employees", min_length=1,
        description="Apify actor (user~name or id) listing a LinkedIn company's employees",
    )
    apify_max_items: PosInt = Field(10, description="people asked of the Apify actor per company (caps the charge)")
    lusha_api_key: SecretStr | None = None
    enable_lusha_fallback: bool = False
    zerobounce_api_key: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    eqc_token: SecretStr | None = None

    # --- vendor budgets (enforced across processes through vendor_usage) ------------------
    search_max_per_hour: NonNegInt = Field(200, description="DuckDuckGo searches per hour, all processes")
    searxng_max_per_hour: NonNegInt = Field(1000, description="SearXNG searches per hour, all processes")
    jina_max_per_hour: NonNegInt = 120
    openai_daily_tokens_cap: NonNegInt = 1_000_000
    tavily_max_queries: NonNegInt = 1000
    lusha_max_contact_lookups: NonNegInt = 100
    zerobounce_max_verifications: NonNegInt = 1000
    apify_max_runs_per_day: NonNegInt = 200

    # --- metrics ---------------------------------------------------------------------
    metrics_prometheus_enable: bool = False
    metrics_port: Annotated[int, Field(ge=1, le=65535)] = 9108
    metrics_addr: str = Field("0.0.0.0", description="address /metrics listens on; 127.0.0.1 keeps it on this host")

    # --- nightly / express / tenants ----------------------------------------------------
    default_tenant_id: PosInt = Field(1, description="tenant used when none is given")
    score_min_export: Annotated[float, Field(ge=0, le=1)] = Field(
        0.66, description="a nightly lead scored at least this gets a crm.lead in the tenant's Odoo (High and "
        "Medium companies get a partner either way)"
    )
    shortlist_daily_cap: NonNegInt = Field(20, description="companies in a tenant's daily target set "
                                           "(SCHED_DAILY_CAP_PER_TENANT wins when set)")
    sched_enabled: bool = Field(True, description="`acra-enrich scheduler` fires its slots; false = it only waits")
    sched_start_cron: str = Field("0 1 * * *", description="nightly start, cron in Asia/Singapore")
    sched_daily_cap_per_tenant: NonNegInt | None = Field(
        None, description="companies in a tenant's daily target set; unset = SHORTLIST_DAILY_CAP"
    )
    sched_tenant_include: str | None = Field(
        None, description="comma-separated tenant ids or names the scheduler runs; unset = every active tenant"
    )
    sched_tenant_exclude: str | None = Field(None, description="comma-separated tenant ids or names never scheduled")
    sched_tenant_concurrency: PosInt = Field(3, description="tenants a nightly worker runs at once")
    sched_company_concurrency: PosInt = Field(8, description="companies one tenant's nightly run enriches at once")
    sched_poll_interval_s: PosFloat = Field(
        30, description="an idle nightly worker also looks for work this often (NOTIFY wakes it at once)"
    )
    sched_grace_s: NonNegFloat = Field(
        120, description="on SIGINT/SIGTERM, seconds running tenant runs get before they are released (they "
        "resume from their manifest)"
    )
    nightly_error_alert_threshold: Annotated[float, Field(ge=0, le=100)] = Field(
        5, description="failure percentage of nightly enrichments over NIGHTLY_ERROR_WINDOW_MIN minutes that "
        "sends a Slack alert"
    )
    nightly_error_window_min: PosFloat = Field(60, description="minutes the nightly failure ratio is taken over")
    express_poll_interval_s: PosFloat = Field(
        30, description="an idle express dispatcher also looks for work this often (NOTIFY wakes it at once)"
    )
    express_daily_cap: NonNegInt = Field(
        300, description="companies the express lane enriches per Asia/Singapore day, all dispatchers together; "
        "0 = unlimited. When reached, jobs wait for the next day"
    )
    express_batch_size: PosInt = Field(5, description="companies per acra_express_enrich job")
    express_concurrency: PosInt = Field(2, description="companies an express dispatcher enriches at once")
    express_cron: str | None = Field(
        None, description="when set, `run express` drains the lane at each slot of this cron (Asia/Singapore) "
        "and sleeps between; unset = continuous (`--cron` uses */15 * * * *)"
    )
    express_tenant_id: PosInt | None = Field(
        None, description="pin every database write of the express lane to this tenant (row-level security); "
        "created on first use if missing"
    )
    express_grace_s: NonNegFloat = Field(
        120, description="on SIGINT/SIGTERM, seconds running express jobs get to finish before they are released"
    )
    express_error_alert_threshold: Annotated[float, Field(ge=0, le=100)] = Field(
        5, description="failure percentage over EXPRESS_ERROR_WINDOW_MIN minutes that sends a Slack alert"
    )
    express_error_window_min: PosFloat = Field(30, description="minutes the express failure ratio is taken over")

    # --- job queue (express and nightly lanes) ---------------------------------------------
    jobs_lease_s: Annotated[float, Field(ge=1)] = Field(
        60, description="a running job's lease; its worker renews it every quarter. A job whose lease "
        "expired (worker killed) is taken up again by the next dispatcher of its lane"
    )
    jobs_max_attempts: PosInt = Field(3, description="attempts before a failing job is marked failed")
    jobs_retry_base_s: NonNegFloat = Field(
        30, description="backoff before the second attempt, seconds; doubles per attempt, with jitter"
    )
    jobs_retry_max_s: NonNegFloat = Field(900, description="longest backoff between attempts, seconds")

    # --- company-id resolution (seed 004) --------------------------------------------------
    wdh_company_enrichment_enabled: bool = True
    wdh_company_sync_lookup_limit: NonNegInt = 5
    wdh_lookup_queue_batch_size: PosInt = 50
    wdh_lookup_retry_max: NonNegInt = 3
    wdh_lookup_retry_delay: NonNegInt = 300

    # --- logging -------------------------------------------------------------------
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    @field_validator(
        "postgres_dsn", "tavily_api_key", "openai_api_key", "jina_api_key", "apify_token", "lusha_api_key",
        "zerobounce_api_key", "slack_webhook_url", "eqc_token", "datagovsg_api_key", "admin_api_tokens",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `APIFY_TOKEN=` in a .env file means "no token": the vendor is disabled, not failing.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator(
        "ddg_base_url", "jina_base_url", "tavily_base_url", "openai_base_url", "apify_base_url",
        "lusha_base_url", "zerobounce_base_url", "zerobounce_bulk_base_url", "eqc_base_url", "enrich_http_proxy",
        "datagovsg_base_url", "searxng_base_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("searxng_base_url", mode="before")
    @classmethod
    def _blank_url(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("search_providers")
    @classmethod
    def _providers(cls, value: str) -> str:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in SEARCH_PROVIDER_NAMES]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"expected distinct names among {', '.join(SEARCH_PROVIDER_NAMES)}")
        return ",".join(names)

    @property
    def search_provider_order(self) -> list[str]:
        return [n for n in self.search_providers.split(",") if n]

    @field_validator("enrich_dns_servers")
    @classmethod
    def _dns_servers(cls, value: str | None) -> str | None:
        from acra_enrich.web.dns import parse_servers

        if value is None or not value.strip():
            return None
        parse_servers(value)  # ValueError names the bad entry
        return value.strip()

    @field_validator("express_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # EXPRESS_CRON= (empty) means continuous, like unset
        from croniter import croniter

        if not croniter.is_valid(value.strip()):
            raise ValueError("not a valid 5-field cron expression (e.g. '*/15 * * * *')")
        return value.strip()

    @field_validator("sched_start_cron")
    @classmethod
    def _sched_cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value.strip()):
            raise ValueError("not a valid 5-field cron expression (e.g. '0 1 * * *')")
        return value.strip()

    @property
    def nightly_daily_cap(self) -> int:
        """SCHED_DAILY_CAP_PER_TENANT, else its alias SHORTLIST_DAILY_CAP."""
        if self.sched_daily_cap_per_tenant is not None:
            return self.sched_daily_cap_per_tenant
        return self.shortlist_daily_cap

    @property
    def excluded_statuses(self) -> list[str]:
        return [s.strip() for s in self.acra_direct_exclude_statuses.split(",") if s.strip()]

    @property
    def home(self) -> Path:
        return self.acra_enrich_home.expanduser().resolve()


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "?"
    variable = field.upper()
    given = error.get("input")
    # Never echo a secret back, even a malformed one.
    shown = "" if given is None or isinstance(given, dict) or "key" in field or "token" in field or "dsn" in field or "webhook" in field else f" (got {given!r})"
    return f"{variable}: {error['msg']}{shown}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, raising ConfigError that names each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    """For tests and long-lived processes that change the environment."""
    get_settings.cache_clear()


def env_documentation() -> list[tuple[str, str, str]]:
    """(VARIABLE, default, description) for --help style listings."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = "" if field.is_required() else repr(field.default) if field.default is not None else "unset"
        if name.endswith(("_key", "_token", "_dsn", "_url")) and field.annotation is not None and "SecretStr" in str(field.annotation):
            default = "unset (secret)"
        rows.append((name.upper(), default, field.description or ""))
    return rows


__all__ = ["Settings", "get_settings", "load_settings", "reset_settings_cache", "env_documentation", "PRODUCT_USER_AGENT"]
