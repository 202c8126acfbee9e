"""EQC-style company lookup: an async client over the web boundary, and a sync provider.

`EqcClient` speaks the API the sandbox emulates (sandbox/vendors/eqc.py documents the
shapes): `search_company(name)` -> candidates, `get_company_detail(id)` -> the record
with its UEN. Every request goes through the product's one web client (proxy, SSRF
guard, retries on 429/502-504 with Retry-After honoured). What is left after those
retries surfaces as a typed error: `EqcRateLimitError`, `EqcServerError`,
`EqcAuthError`, `EqcUnavailable` (all `LookupFailed`), so callers queue and move on.
The token travels in the `token` header and is never logged.

`EqcProvider` is the resolution service's synchronous view of it: it runs the client on
its own event loop in a background thread (an anyio blocking portal), so the sync
service and the async web client each keep their natural shape. It tries each request
once: a caller's flow must not wait out Retry-After pauses, and the lookup queue already
retries with its own backoff (a rate limit hands the name back with the Retry-After).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from anyio.from_thread import start_blocking_portal
from pydantic import SecretStr

from acra_enrich.config import Settings
from acra_enrich.errors import ConfigError
from acra_enrich.resolve.providers import (
    DEFAULT_THRESHOLD,
    DEFAULT_TIE_MARGIN,
    Candidate,
    CompanyMatch,
    LookupAuthError,
    LookupFailed,
    LookupRateLimited,
    LookupResult,
    LookupServerError,
    LookupUnavailable,
    pick_best,
)
from acra_enrich.web import FetchResult, HostPolicy, WebClient, make_web_client
from acra_enrich.web.retry import parse_retry_after

SEARCH_PATH = "/kg-api-hfd/api/search/"
DETAIL_PATH = "/kg-api-hfd/api/search/findDepart"
LIVE_STATUSES = ("live", "live company", "registered", "存续", "在业")
T = TypeVar("T")


class EqcError(LookupFailed):
    """Any EQC failure."""


class EqcRateLimitError(EqcError, LookupRateLimited):
    pass


class EqcServerError(EqcError, LookupServerError):
    pass


class EqcAuthError(EqcError, LookupAuthError):
    pass


class EqcUnavailable(EqcError, LookupUnavailable):
    pass


@dataclass(frozen=True)
class EqcCandidate:
    company_id: str
    name: str
    uen: str | None
    status: str | None


@dataclass(frozen=True)
class EqcCompanyDetail:
    company_id: str
    name: str
    uen: str | None
    status: str | None
    english_name: str | None
    raw: dict[str, Any]


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


class EqcClient:
    """`attempts` bounds tries per request (None: the web client's default retries)."""

    def __init__(self, web: WebClient, base_url: str, token: SecretStr | str, *, attempts: int | None = None) -> None:
        self._web = web
        self._base = base_url.rstrip("/")
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._attempts = attempts

    async def search_company(self, name: str) -> list[EqcCandidate]:
        """Candidates for a name, best first ([] when EQC knows none)."""
        query = name.strip()
        if not query:
            raise ValueError("cannot search for an empty name")
        data = await self._get(SEARCH_PATH, {"key": query})
        items = data.get("list") or []
        if not isinstance(items, list):
            raise EqcUnavailable("EQC search answered without a list")
        candidates = []
        for item in items:
            if not isinstance(item, dict):
                continue
            company_id = _text(item.get("companyId"))
            full_name = _text(item.get("companyFullName") or item.get("companyName"))
            if company_id and full_name:
                candidates.append(EqcCandidate(company_id, full_name, _text(item.get("unite_code")),
                                               _text(item.get("registered_status"))))
        return candidates

    async def get_company_detail(self, company_id: str) -> EqcCompanyDetail | None:
        """The company's record, or None when EQC has no record under this id."""
        target = company_id.strip()
        if not target:
            raise ValueError("cannot fetch a detail for an empty id")
        result = await self._request(DETAIL_PATH, {"targetId": target})
        if result.status == 404:
            return None
        info = _payload(result).get("businessInfodto")
        if not isinstance(info, dict) or not info:
            return None
        name = _text(info.get("companyFullName") or info.get("company_name"))
        if name is None:
            raise EqcUnavailable(f"EQC detail for {target} has no company name")
        return EqcCompanyDetail(
            company_id=_text(info.get("company_id")) or target,
            name=name,
            uen=_text(info.get("unite_code")),
            status=_text(info.get("registered_status")),
            english_name=_text(info.get("company_en_name")),
            raw=info,
        )

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        return _payload(await self._request(path, params))

    async def _request(self, path: str, params: dict[str, str]) -> FetchResult:
        return await self._web.request("GET", self._base + path, params=params, attempts=self._attempts,
                                       headers={"token": self._token.get_secret_value(), "Accept": "application/json"})


def _payload(result: FetchResult) -> dict[str, Any]:
    """The JSON object of an answer, or the typed error it amounts to."""
    status = result.status
    if status is None:
        raise EqcUnavailable(f"no answer from EQC ({result.error}: {result.detail})")
    if status == 429:
        raise EqcRateLimitError("EQC rate limit (HTTP 429)", parse_retry_after(result.headers.get("retry-after")))
    if status in (401, 403):
        raise EqcAuthError(f"EQC refused the token (HTTP {status})")
    if status >= 500:
        raise EqcServerError(f"EQC server error (HTTP {status})")
    if status != 200:
        raise EqcUnavailable(f"unexpected EQC answer (HTTP {status})")
    if result.error is not None:
        raise EqcUnavailable(f"EQC answer unreadable ({result.error}: {result.detail})")
    try:
        data = json.loads(result.content or b"null")
    except ValueError:
        raise EqcUnavailable("EQC answered with malformed JSON") from None
    if not isinstance(data, dict):
        raise EqcUnavailable("EQC answered with something other than a JSON object")
    if data.get("error"):
        error = str(data["error"])
        if error in ("TokenExpired", "TokenRequired", "TokenInvalid"):
            raise EqcAuthError(f"EQC token rejected ({error})")
        raise EqcUnavailable(f"EQC reported an error: {error[:200]}")
    return data


class EqcProvider:
    """`LookupProvider` over EQC: search, pick the one candidate that matches, fetch its
    detail. The company id is the UEN when EQC has one, else EQC's own id."""

    name = "eqc"

    def __init__(
        self,
        settings: Settings,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        tie_margin: float = DEFAULT_TIE_MARGIN,
        min_interval_s: float = 0.0,
        attempts: int = 1,
    ) -> None:
        if not settings.eqc_base_url or settings.eqc_token is None:
            raise ConfigError("the EQC provider needs EQC_BASE_URL and EQC_TOKEN")
        self.threshold = threshold
        self.tie_margin = tie_margin
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(start_blocking_portal())
        base_url, token = settings.eqc_base_url, settings.eqc_token
        policies = {base_url: HostPolicy(min_interval_s=min_interval_s, robots=False)}

        async def open_client() -> tuple[WebClient, EqcClient]:
            web = make_web_client(settings, host_policies=policies)
            return web, EqcClient(web, base_url, token, attempts=attempts)

        try:
            self._web, self.client = self._portal.call(open_client)
        except BaseException:
            self._stack.close()
            raise

    def _run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self._portal.call(func, *args)

    def lookup(self, name: str) -> LookupResult:
        return self._run(self._lookup, name)

    async def _lookup(self, name: str) -> LookupResult:
        found = await self.client.search_company(name)
        candidates = [Candidate(c.company_id, c.name, c.uen, (c.status or "").lower() in LIVE_STATUSES)
                      for c in found]
        pick = pick_best(name, candidates, threshold=self.threshold, tie_margin=self.tie_margin)
        if pick.outcome == "ambiguous":
            return LookupResult("ambiguous", candidates=pick.tied)
        if pick.best is None:
            return LookupResult("not_found")
        detail = await self.client.get_company_detail(pick.best.key)
        if detail is None:
            return LookupResult("not_found")
        return LookupResult("found", CompanyMatch(detail.uen or detail.company_id, detail.name, detail.uen,
                                                  self.name, round(pick.score / 100, 4)))

    def close(self) -> None:
        """Close the web client and stop the event-loop thread (idempotent)."""
        if self._web is not None:
            self._run(self._web.aclose)
            self._web = None  # type: ignore[assignment]
        self._stack.close()

    def __enter__(self) -> "EqcProvider":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
