"""DuckDuckGo's HTML endpoint (`html.duckduckgo.com/html/`, GET or POST with form field `q`).

Markup as the real page: `div.result` blocks, title link `a.result__a` whose href is the
`//duckduckgo.com/l/?uddg=<url-encoded target>&rut=…` redirect, `a.result__url`, snippet
`a.result__snippet`; ads are `div.result--ad` with a `duckduckgo.com/y.js` href; no hits
give `div.no-results`. Rate limiting follows the real service: HTTP 202 with the anomaly
(bot challenge) page, not 429, once more than `limit` queries arrive within `window_s`; the
block lasts until the window ends. Faults: "202" is the anomaly page, "bad_json" a page in a
markup the parser has never seen (as when DuckDuckGo changes its site), others generic.
"""

from __future__ import annotations

import hashlib
import threading
import time
from html import escape
from urllib.parse import quote

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.search import Hit, engine
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import World

VENDOR = "ddg"
DEFAULT_LIMIT = 1000  # queries per window: generous, so ordinary tests never see a block
DEFAULT_WINDOW_S = 60.0


class RateLimit:
    """Fixed window: the first query opens it, queries past `limit` are blocked until it ends."""

    def __init__(self, limit: int = DEFAULT_LIMIT, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._lock = threading.Lock()
        self.configure(limit, window_s)

    def configure(self, limit: int, window_s: float | None = None) -> None:
        if limit < 0 or (window_s is not None and window_s <= 0):
            raise ValueError("limit must be >= 0 and window_s > 0")
        with self._lock:
            self.limit = limit
            if window_s is not None:
                self.window_s = window_s
            self._start = 0.0
            self._count = 0

    def reset(self) -> None:
        with self._lock:
            self._start, self._count = 0.0, 0

    def allow(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._start >= self.window_s:
                self._start, self._count = now, 0
            self._count += 1
            return self._count <= self.limit


def make_handler(world: World, faults: Faults, rate_limit: RateLimit | None = None) -> Handler:
    limiter = rate_limit or RateLimit()

    def handle(req: SandboxRequest) -> SandboxResponse:
        if req.path.rstrip("/") not in ("/html", ""):
            return SandboxResponse.html("<html><body>Not found</body></html>", 404)
        query = (req.arg("q") or "").strip()
        if not query:
            return SandboxResponse.html(_page("", '<form action="/html/" method="post"><input name="q"></form>'))
        fault = faults.take(VENDOR)
        if fault == "202":
            return anomaly(query)
        if fault == "bad_json":
            return SandboxResponse.html(_changed_layout(query))
        if fault:
            return fault_response(fault, lambda status: SandboxResponse.html(
                f"<html><body><h1>{status}</h1><p>Something went wrong.</p></body></html>", status))
        if not limiter.allow():
            return anomaly(query)
        hits = engine(world).search(query)
        body = "".join(_result(h, query) for h in hits) if hits else '<div class="no-results">No results.</div>'
        if hits and int(hashlib.sha1(query.encode()).hexdigest(), 16) % 5 == 0:
            body = _ad(query) + body
        return SandboxResponse.html(_page(query, body))

    return handle


def anomaly(query: str) -> SandboxResponse:
    """The bot challenge DuckDuckGo answers with HTTP 202 when it rate-limits a client."""
    token = hashlib.sha1(f"anomaly:{query}".encode()).hexdigest()
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>DuckDuckGo</title></head><body>'
        '<div class="anomaly-modal__mask"><div class="anomaly-modal__modal" data-testid="anomaly-modal">'
        '<div class="anomaly-modal__title">Unfortunately, bots use DuckDuckGo too.</div>'
        '<div class="anomaly-modal__description">Please complete the following challenge to confirm this '
        "search was made by a human.</div>"
        f'<form id="img-form" action="//duckduckgo.com/anomaly.js?sv=html&amp;cc=sre&amp;ti={token[:16]}" method="POST">'
        '<input type="hidden" name="q" value="' + escape(query) + '"></form></div></div></body></html>'
    )
    return SandboxResponse.html(body, 202)


def _page(query: str, inner: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(query)} at DuckDuckGo</title>'
            '<link rel="stylesheet" href="/dist/h.css" type="text/css"></head><body class="body--html">'
            '<div class="header"><form id="search_form" name="x" action="/html/" method="post">'
            f'<input type="text" name="q" value="{escape(query)}" class="search__input"></form></div>'
            f'<div id="links" class="results">{inner}</div></body></html>')


def _bold(text: str, query: str) -> str:
    out = escape(text)
    for word in sorted({w for w in query.split() if len(w) > 2 and w.isalnum()}, key=len, reverse=True):
        lower, idx = out.lower(), out.lower().find(word.lower())
        if idx >= 0 and lower[idx:idx + len(word)] == word.lower():
            out = f"{out[:idx]}<b>{out[idx:idx + len(word)]}</b>{out[idx + len(word):]}"
    return out


def _result(hit: Hit, query: str) -> str:
    rut = hashlib.sha256(hit.url.encode()).hexdigest()
    href = f"//duckduckgo.com/l/?uddg={quote(hit.url, safe='')}&amp;rut={rut}"
    shown = hit.url.split("://", 1)[-1].rstrip("/")
    return (
        '<div class="result results_links results_links_deep web-result ">'
        '<div class="links_main links_deep result__body">'
        f'<h2 class="result__title"><a rel="nofollow" class="result__a" href="{href}">{_bold(hit.title, query)}</a></h2>'
        '<div class="result__extras"><div class="result__extras__url">'
        f'<a class="result__url" href="{href}">{escape(shown)}</a></div></div>'
        f'<a class="result__snippet" href="{href}">{_bold(hit.snippet, query)}</a>'
        '<div class="clear"></div></div></div>'
    )


def _ad(query: str) -> str:
    target = "https://www.bizloans-sg.com/apply?utm_source=ddg"
    href = f"https://duckduckgo.com/y.js?ad_domain=bizloans-sg.com&amp;ad_provider=bingv7aa&amp;u3={quote(target, safe='')}"
    return (
        '<div class="result results_links results_links_deep result--ad result--ad--small">'
        '<div class="links_main links_deep result__body">'
        f'<h2 class="result__title"><a rel="nofollow" class="result__a" href="{href}">SME Business Loans Singapore - Fast Approval</a></h2>'
        f'<a class="result__snippet" href="{href}">Apply online in minutes. Ad</a>'
        '<div class="badge--ad">Ad</div></div></div>'
    )


def _changed_layout(query: str) -> str:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>DuckDuckGo</title></head><body>'
            f'<main class="serp"><ol class="react-results--main"><li data-layout="organic"><article data-testid="result">'
            f'<h2><span>{escape(query)}</span></h2></article></li></ol></main></body></html>')
