"""Jina reader: `GET {JINA_BASE_URL}{url}` renders a page as a browser would and returns its text.

`Accept: application/json` gives `{code, status, data: {title, url, content, usage: {tokens}}}`;
a `data.warning` says the target itself answered with an error. A key (JINA_API_KEY, Bearer)
is optional: without one the reader is rate-limited harder, so it is always enabled. Each
read takes one unit of JINA_MAX_PER_HOUR (a request counts against the vendor's rate limit
whether or not it succeeds, so nothing is refunded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from acra_enrich.config import Settings
from acra_enrich.vendors.base import ERROR, OK, VendorClient, VendorOutcome, json_body, secret_values
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.web import WebClient

VENDOR = "jina"
ReturnFormat = Literal["markdown", "text", "html"]


@dataclass(frozen=True)
class ReaderPage:
    url: str
    title: str
    content: str
    tokens: int | None = None
    warning: str | None = None  # e.g. "Target URL returned error 404"


@dataclass(frozen=True)
class ReadResult(VendorOutcome):
    page: ReaderPage | None = None


class JinaReader(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None) -> None:
        super().__init__(web, budget, disabled_reason=None, secrets=secret_values(settings.jina_api_key))
        base = settings.jina_base_url
        self.base_url = base if base.endswith("/") else base + "/"
        self._key = settings.jina_api_key

    async def read(self, url: str, *, return_format: ReturnFormat = "markdown") -> ReadResult:
        refused = await self._take()
        if refused is not None:
            return ReadResult(*refused)
        headers = {"Accept": "application/json"}
        if return_format != "markdown":
            headers["X-Return-Format"] = return_format
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        result = await self.web.request("GET", self.base_url + url, headers=headers)
        body = json_body(result)
        if not result.ok:
            message = body.get("message") if isinstance(body, dict) else None
            status, detail = self._failure(result, message if isinstance(message, str) else None)
            return ReadResult(status, detail, http_status=result.status)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("content"), str):
            return ReadResult(ERROR, "answer without data.content", http_status=result.status)
        usage = data.get("usage")
        tokens = usage.get("tokens") if isinstance(usage, dict) else None
        warning = data.get("warning")
        page = ReaderPage(
            url=str(data.get("url") or url), title=str(data.get("title") or ""), content=data["content"],
            tokens=tokens if isinstance(tokens, int) else None, warning=warning if isinstance(warning, str) else None,
        )
        return ReadResult(OK, page.warning or "", http_status=result.status, page=page)

    async def read_text(self, url: str) -> str | None:
        """The page's content, or None when the reader failed or the target answered with an error."""
        result = await self.read(url)
        if result.page is None or result.page.warning or not result.page.content.strip():
            return None
        return result.page.content
