"""Slack incoming webhook: `POST {SLACK_WEBHOOK_URL}` with `{"text": ...}`; Slack answers `ok`.

The webhook URL is itself the credential (its path), so it never appears in an outcome.
Failures answer in text/plain (`invalid_payload`, `no_text`, `invalid_token`, `no_service`).
"""

from __future__ import annotations

from dataclasses import dataclass

from acra_enrich.config import Settings
from acra_enrich.vendors.base import DISABLED, OK, UNAUTHORIZED, VendorClient, VendorOutcome, secret_values
from acra_enrich.web import WebClient

VENDOR = "slack"
_MAX_TEXT = 39_000  # Slack truncates messages beyond 40,000 characters


@dataclass(frozen=True)
class SlackResult(VendorOutcome):
    pass


class SlackClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings) -> None:
        webhook = settings.slack_webhook_url
        super().__init__(web, None, disabled_reason=None if webhook else "SLACK_WEBHOOK_URL is not set",
                         secrets=secret_values(webhook))
        self._webhook = webhook

    async def post(self, text: str) -> SlackResult:
        if not self.enabled:
            return SlackResult(DISABLED, self._disabled_detail())
        assert self._webhook is not None
        result = await self.web.request("POST", self._webhook.get_secret_value(), json={"text": text[:_MAX_TEXT]})
        if result.ok:
            return SlackResult(OK, "", http_status=result.status)
        if result.status == 404:  # no_service: the webhook was revoked or never existed
            return SlackResult(UNAUTHORIZED, "HTTP 404: webhook not found (revoked?)", http_status=404)
        reason = result.text.strip()[:80] if result.status is not None else None
        return SlackResult(*self._failure(result, reason), http_status=result.status)
