"""What every vendor client shares: outcome statuses, the disabled state, budgets, error mapping.

A vendor client never raises for anything the network or the vendor does: it returns an
outcome whose `status` says what happened and whose `detail` is safe to log (no key, token
or webhook path ever appears in it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import structlog
from pydantic import SecretStr

from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.web import TIMEOUT, FetchResult, WebClient, redact_text

log = structlog.get_logger("acra_enrich.vendors")

Status = Literal["ok", "disabled", "rate_limited", "budget_exhausted", "unauthorized", "timeout", "error"]
OK: Final = "ok"
DISABLED: Final = "disabled"  # no key / feature flag off: nothing was sent
RATE_LIMITED: Final = "rate_limited"  # the vendor said "not now" (429, DuckDuckGo's 202), or we are cooling down
BUDGET_EXHAUSTED: Final = "budget_exhausted"  # our own cap in vendor_usage: nothing was sent
UNAUTHORIZED: Final = "unauthorized"  # key rejected, account inactive or out of credits
TIMEOUT_STATUS: Final = "timeout"  # no answer in time (or Apify's run-too-long 408)
ERROR: Final = "error"  # anything else: 5xx, unreadable answer, connection failure

_DETAIL_MAX = 300
_MIN_SECRET_PREFIX = 6  # vendors echo key prefixes ("Incorrect API key provided: sk-abc***")


@dataclass(frozen=True)
class VendorOutcome:
    """Base of every client's result: how the call went (payload fields live in subclasses)."""

    status: str = OK
    detail: str = ""
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK


def secret_values(*secrets: SecretStr | str | None) -> tuple[str, ...]:
    values = []
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if value:
            values.append(value)
    return tuple(values)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and any echoed prefix of one) removed, then redacted, then capped."""
    for secret in secrets:
        if len(secret) < _MIN_SECRET_PREFIX:
            continue
        for size in range(len(secret), _MIN_SECRET_PREFIX - 1, -1):
            if secret[:size] in text:
                text = text.replace(secret[:size], "REDACTED")
    return redact_text(text)[:_DETAIL_MAX]


def json_body(result: FetchResult) -> Any:
    """The answer as JSON, or None when it is not JSON."""
    try:
        return json.loads(result.text or result.content.decode("utf-8", "replace"))
    except ValueError:
        return None


def text_at(body: Any, *keys: str) -> str | None:
    """The string at `body[k1][k2]…`, or None when any step is missing or not what it should be."""
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else None
    return body if isinstance(body, str) else None


@dataclass(frozen=True)
class JsonAnswer(VendorOutcome):
    """What `VendorClient._json_call` got: the decoded `body` when `ok`, else how the call failed."""

    body: Any = None


class VendorClient:
    """Base class: `enabled`, one log line when disabled, budget checks, common HTTP mapping."""

    vendor: str = "vendor"

    def __init__(self, web: WebClient, budget: BudgetGate | None, *, disabled_reason: str | None,
                 secrets: tuple[str, ...] = ()) -> None:
        self.web = web
        self.budget = budget
        self.enabled = disabled_reason is None
        self.disabled_reason = disabled_reason
        self._secrets = secrets
        if disabled_reason is not None:
            # Once per client; the pipeline builds its clients once per process (vendors.build_vendors).
            log.info("vendor_disabled", vendor=self.vendor, reason=disabled_reason)

    # --- helpers for subclasses ----------------------------------------------------------

    def _detail(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _disabled_detail(self) -> str:
        return self.disabled_reason or "disabled"

    async def _take(self, units: int = 1) -> tuple[str, str] | None:
        """None when the budget granted `units`, else (status, detail) to return without calling."""
        if self.budget is None:
            return None
        grant = await self.budget.take(self.vendor, units)
        if grant == "granted":
            return None
        if grant == "exhausted":
            return BUDGET_EXHAUSTED, f"{self.vendor} budget exhausted ({units} unit(s) asked)"
        return ERROR, "budget check failed: database unavailable"

    async def _refund(self, units: int) -> None:
        if self.budget is not None and units > 0:
            await self.budget.refund(self.vendor, units)

    def _failure(self, result: FetchResult, message: str | None = None) -> tuple[str, str]:
        """(status, detail) for an answer that is not a success, by HTTP status and transport reason."""
        status = result.status
        said = f": {message}" if message else ""
        if status is None:
            kind = TIMEOUT_STATUS if result.error == TIMEOUT else ERROR
            return kind, self._detail(f"{result.error}: {result.detail}")
        if status in (401, 403):
            # The vendor's words may quote the key back: say only what happened.
            return UNAUTHORIZED, f"HTTP {status}: credentials rejected or account inactive"
        if status == 402:
            return UNAUTHORIZED, "HTTP 402: the account has no credit left"
        if status == 429:
            return RATE_LIMITED, self._detail(f"HTTP 429{said}")
        if status in (408, 504):
            return TIMEOUT_STATUS, self._detail(f"HTTP {status}{said}")
        return ERROR, self._detail(f"HTTP {status}{said}")

    async def _json_call(self, method: str, url: str, *, message_at: tuple[str, ...], units: int = 1,
                         need_object: bool = False, refund_statuses: Collection[int] | None = None,
                         **request: Any) -> JsonAnswer:
        """Take `units` from the budget, send one request, decode its JSON answer.

        On failure the answer says why (the vendor's words are read at `message_at` in its JSON
        error body), and the units are given back: for every failure, or when `refund_statuses`
        is given only for those HTTP statuses (vendors that bill a call that failed late).
        `need_object` makes an answer that is not a JSON object a failure too.
        """
        refused = await self._take(units)
        if refused is not None:
            return JsonAnswer(*refused)
        result = await self.web.request(method, url, **request)
        body = json_body(result)
        if result.ok and (isinstance(body, dict) or not need_object):
            return JsonAnswer(OK, http_status=result.status, body=body)
        if refund_statuses is None or result.status in refund_statuses:
            await self._refund(units)
        if result.ok:
            return JsonAnswer(ERROR, "answer is not a JSON object", result.status)
        return JsonAnswer(*self._failure(result, text_at(body, *message_at)), result.status)
