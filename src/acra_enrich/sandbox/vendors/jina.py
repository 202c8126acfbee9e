"""Jina reader (`r.jina.ai/<url>`, or POST {"url": ...}).

It "renders" the target like the real reader's headless browser would: script-only pages
come back with their content, Cloudflare-protected emails decoded. `Accept: application/json`
gives `{code, status, data: {title, description, url, content, usage: {tokens}}}`, otherwise
the text format (`Title:`, `URL Source:`, `Markdown Content:`). `X-Return-Format` accepts
markdown (default), text and html. A Bearer key is optional; one containing "invalid" is
rejected with 401. Unknown hosts fail like the real service (422, ERR_NAME_NOT_RESOLVED).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote, urlencode

from acra_enrich.sandbox import web
from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.markup import markdown_to_text
from acra_enrich.sandbox.responses import bearer, key_ok
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import World

VENDOR = "jina"
_ERRORS = {
    401: ("AuthenticationFailedError", 40103, "Invalid API key, please get a new one from https://jina.ai"),
    422: ("AssertionFailureError", 42206, "Failed to goto {url}"),
    429: ("RateLimitTriggeredError", 42903, "Per IP rate limit exceeded"),
}


def _error(status: int, url: str = "", detail: str = "") -> SandboxResponse:
    name, code, message = _ERRORS.get(status, ("InternalServerError", status * 100, "Internal server error"))
    message = message.format(url=url) + (f": {detail}" if detail else "")
    return SandboxResponse.json({"data": None, "code": status, "name": name, "status": code,
                                 "message": message, "readableMessage": f"{name}: {message}"}, status)


def _target(req: SandboxRequest) -> str:
    if req.method == "POST" and req.body:
        try:
            return str(req.json().get("url") or "")
        except (ValueError, AttributeError):
            return ""
    target = req.path[1:]
    if target[:8].lower().startswith(("http%3a", "https%3a")):
        target = unquote(target)  # clients may percent-encode the whole target URL
    target = re.sub(r"^(https?):/(?!/)", r"\1://", target)  # a proxy may collapse the double slash
    if req.query:
        target += "?" + urlencode(req.query, doseq=True)
    return target


def make_handler(world: World, faults: Faults) -> Handler:
    def handle(req: SandboxRequest) -> SandboxResponse:
        key = bearer(req.headers)
        if req.headers.get("authorization") and not key_ok(key):
            return _error(401)
        fault = faults.take(VENDOR)
        if fault:
            return fault_response(fault, _error)
        url = _target(req)
        if not url:
            return SandboxResponse.text("Usage: https://r.jina.ai/<url>\n")
        reading = web.read(world, url)
        if reading is None:
            return _error(422, url, f"Error: net::ERR_NAME_NOT_RESOLVED at {url}")
        if reading.status == 508:
            return _error(422, url, f"Error: net::ERR_TOO_MANY_REDIRECTS at {url}")
        fmt = (req.headers.get("x-return-format") or req.headers.get("x-respond-with") or "markdown").lower()
        content = {"html": reading.html, "text": markdown_to_text(reading.markdown)}.get(fmt, reading.markdown)
        tokens = max(1, len(content) // 4)
        if "application/json" in req.headers.get("accept", ""):
            data: dict[str, object] = {"title": reading.title, "description": "", "url": url,
                                       "content": content, "usage": {"tokens": tokens}}
            if reading.status >= 400:
                data["warning"] = f"Target URL returned error {reading.status}"
            return SandboxResponse(200, {"Content-Type": "application/json"},
                                   json.dumps({"code": 200, "status": 20000, "data": data}).encode())
        text = f"Title: {reading.title}\n\nURL Source: {url}\n\n"
        if reading.status >= 400:
            text += f"Warning: Target URL returned error {reading.status}\n\n"
        text += f"Markdown Content:\n{content}"
        return SandboxResponse.text(text)

    return handle
