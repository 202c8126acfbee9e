"""ZeroBounce email validation: `GET /v2/validate` (one address) and `POST /v2/validatebatch`
on the bulk host (at most 200 addresses per call).

ZeroBounce answers a bad key or an account out of credits with HTTP 200 and
`{"error": "Invalid API Key or your account ran out of credits"}` (the batch form puts it in
`errors` with `email_address: "all"`): that is a failure (`unauthorized`), never a verdict.
Each address takes one unit of ZEROBOUNCE_MAX_VERIFICATIONS (per day); units for addresses
that got no verdict are given back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from acra_enrich.config import Settings
from acra_enrich.vendors.base import (
    DISABLED,
    ERROR,
    OK,
    UNAUTHORIZED,
    VendorClient,
    VendorOutcome,
    secret_values,
    text_at,
)
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.web import WebClient

VENDOR = "zerobounce"
PROVIDER = "zerobounce"
MAX_BATCH = 200
_KEY_OR_CREDITS = ("api key", "credits")


@dataclass(frozen=True)
class EmailVerdict:
    email: str  # lower case, as asked
    status: str  # valid | invalid | catch-all | unknown | spamtrap | abuse | do_not_mail
    sub_status: str | None
    response: dict[str, Any]  # ZeroBounce's object for this address (no credentials in it)


@dataclass(frozen=True)
class VerifyResult(VendorOutcome):
    verdicts: tuple[EmailVerdict, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()  # (address, ZeroBounce's reason) for addresses without a verdict


def _verdict(item: Any) -> EmailVerdict | None:
    if not isinstance(item, dict):
        return None
    address, status = item.get("address"), item.get("status")
    if not isinstance(address, str) or not isinstance(status, str) or not status:
        return None
    sub = item.get("sub_status")
    return EmailVerdict(address.strip().lower(), status.lower(), sub if isinstance(sub, str) and sub else None, item)


class ZeroBounceClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None) -> None:
        key = settings.zerobounce_api_key
        super().__init__(web, budget, disabled_reason=None if key else "ZEROBOUNCE_API_KEY is not set",
                         secrets=secret_values(key))
        self.base_url = settings.zerobounce_base_url.rstrip("/")
        self.bulk_base_url = settings.zerobounce_bulk_base_url.rstrip("/")
        self._key = key

    def _error_in_body(self, message: str) -> tuple[str, str]:
        lowered = message.lower()
        kind = UNAUTHORIZED if any(word in lowered for word in _KEY_OR_CREDITS) else ERROR
        return kind, self._detail(f"HTTP 200 with error: {message}")

    async def validate(self, email: str) -> VerifyResult:
        """One address through /v2/validate."""
        if not self.enabled:
            return VerifyResult(DISABLED, self._disabled_detail())
        assert self._key is not None
        answer = await self._json_call("GET", f"{self.base_url}/v2/validate", params={
            "api_key": self._key.get_secret_value(), "email": email, "ip_address": ""}, message_at=("error",))
        if not answer.ok:
            return VerifyResult(answer.status, answer.detail, answer.http_status)
        verdict = _verdict(answer.body)
        if verdict is None:
            await self._refund(1)
            message = text_at(answer.body, "error")
            if message is not None:
                return VerifyResult(*self._error_in_body(message), http_status=answer.http_status)
            return VerifyResult(ERROR, "answer without an address status", http_status=answer.http_status)
        return VerifyResult(OK, "", http_status=answer.http_status, verdicts=(verdict,))

    async def validate_batch(self, emails: Sequence[str]) -> VerifyResult:
        """Up to MAX_BATCH addresses in one /v2/validatebatch call."""
        if not self.enabled:
            return VerifyResult(DISABLED, self._disabled_detail())
        assert self._key is not None
        emails = list(dict.fromkeys(emails))
        if not emails or len(emails) > MAX_BATCH:
            return VerifyResult(ERROR, f"a batch holds 1 to {MAX_BATCH} addresses, got {len(emails)}")
        answer = await self._json_call("POST", f"{self.bulk_base_url}/v2/validatebatch", units=len(emails), json={
            "api_key": self._key.get_secret_value(),
            "email_batch": [{"email_address": e, "ip_address": None} for e in emails],
        }, need_object=True, message_at=("error",))
        if not answer.ok:
            return VerifyResult(answer.status, answer.detail, answer.http_status)
        body = answer.body
        verdicts = tuple(v for v in (_verdict(i) for i in body.get("email_batch") or []) if v is not None)
        errors = tuple((str(e.get("email_address") or ""), str(e.get("error") or ""))
                       for e in body.get("errors") or [] if isinstance(e, dict))
        await self._refund(len(emails) - len(verdicts))
        whole = next((reason for address, reason in errors if address == "all"), None)
        if not verdicts and (whole is not None or isinstance(body.get("error"), str)):
            return VerifyResult(*self._error_in_body(whole or str(body["error"])), http_status=answer.http_status)
        return VerifyResult(OK, f"{len(verdicts)} verdict(s), {len(errors)} error(s)",
                            http_status=answer.http_status, verdicts=verdicts, errors=errors)
