"""Slack incoming webhooks: `POST /services/T…/B…/…` with JSON `{text, blocks?}` (or the
legacy form field `payload=`). Answers as Slack does, in text/plain: `ok`; 400
`invalid_payload` (not JSON) or `no_text` (neither text nor blocks); 403 `invalid_token` (a
path containing "invalid"); 404 `no_service` (not a webhook path). Accepted messages are kept
in the `Inbox` so tests can read the alerts the product sent (control route `GET /slack`).
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from typing import Any

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import World

VENDOR = "slack"
_WEBHOOK = re.compile(r"^/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+$")


class Inbox:
    """Messages received, newest last (bounded)."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._lock = threading.Lock()
        self._messages: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def add(self, path: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._messages.append({"webhook": path, "payload": payload})

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


def _text(body: str, status: int) -> SandboxResponse:
    return SandboxResponse.text(body, status, "text/plain; charset=utf-8")


def make_handler(world: World, faults: Faults, inbox: Inbox | None = None) -> Handler:
    box = inbox or Inbox()

    def handle(req: SandboxRequest) -> SandboxResponse:
        if req.method != "POST" or not _WEBHOOK.match(req.path):
            return _text("no_service", 404)
        if "invalid" in req.path.lower():
            return _text("invalid_token", 403)
        fault = faults.take(VENDOR)
        if fault == "bad_json":
            return SandboxResponse.html("<html><body>Service temporarily unavailable</body></html>")
        if fault:
            return fault_response(fault, lambda status: _text(
                "rate_limited" if status == 429 else "internal_error", status))
        raw = req.body.decode("utf-8", "replace")
        if req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raw = (req.form().get("payload") or [""])[0]
        try:
            payload = json.loads(raw)
        except ValueError:
            return _text("invalid_payload", 400)
        if not isinstance(payload, dict):
            return _text("invalid_payload", 400)
        if not payload.get("text") and not payload.get("blocks"):
            return _text("no_text", 400)
        box.add(req.path, payload)
        return _text("ok", 200)

    return handle
