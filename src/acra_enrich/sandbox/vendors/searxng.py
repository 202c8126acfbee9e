"""A self-hosted SearXNG instance (`searxng.sandbox.test`): `GET /search?q=...&format=json`.

The JSON API as SearXNG serves it: `{query, number_of_results, results: [{url, title,
content, engine, engines, parsed_url, template, positions, score, category}], answers,
corrections, infoboxes, suggestions, unresponsive_engines: [[engine, reason], ...]}`, from
the same index as the DuckDuckGo emulation. Its failure modes: `format=json` answers 403
when the instance only serves HTML (`search.formats` without json; here `format=html` or a
missing format gives the HTML page); the limiter's 429 "Too Many Requests"; and, the one a
client must not read as "no results", 200 with no results while its upstream engines are
suspended (fault "202": `unresponsive_engines` lists them). Other faults are generic.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.search import engine
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import World

VENDOR = "searxng"
_ENGINES = ("google", "bing", "brave", "duckduckgo")
_SUSPENDED = [["google", "Suspended: too many requests"], ["brave", "Suspended: too many requests"],
              ["duckduckgo", "CAPTCHA"], ["bing", "timeout"]]


def _error_page(status: int) -> SandboxResponse:
    text = {403: "Forbidden", 429: "Too Many Requests"}.get(status, "Internal Server Error")
    return SandboxResponse.html(f"<!doctype html><html><head><title>{status} {text}</title></head>"
                                f"<body><h1>{text}</h1></body></html>", status)


def _body(query: str, results: list[dict[str, object]], unresponsive: list[list[str]]) -> dict[str, object]:
    return {"query": query, "number_of_results": 0, "results": results, "answers": [], "corrections": [],
            "infoboxes": [], "suggestions": [], "unresponsive_engines": unresponsive}


def make_handler(world: World, faults: Faults) -> Handler:
    def handle(req: SandboxRequest) -> SandboxResponse:
        if req.path.rstrip("/") not in ("/search", ""):
            return _error_page(404)
        query = (req.arg("q") or "").strip()
        fmt = (req.arg("format") or "html").lower()
        fault = faults.take(VENDOR)
        if fault == "202":  # every upstream engine suspended: 200, nothing found, and why
            return SandboxResponse.json(_body(query, [], _SUSPENDED))
        if fault:
            return fault_response(fault, _error_page)
        if fmt != "json":
            if fmt not in ("html", ""):
                return _error_page(403)  # a format not in search.formats
            return SandboxResponse.html(f"<!doctype html><html><head><title>{escape(query)} - SearXNG</title>"
                                        "</head><body><div id=\"results\"></div></body></html>")
        if not query:
            return _error_page(400)
        results = []
        for rank, hit in enumerate(engine(world).search(query, limit=20)):
            first = _ENGINES[rank % len(_ENGINES)]
            parts = urlsplit(hit.url)
            results.append({"url": hit.url, "title": hit.title, "content": hit.snippet, "engine": first,
                            "engines": [first, _ENGINES[(rank + 1) % len(_ENGINES)]],
                            "parsed_url": [parts.scheme, parts.netloc, parts.path, "", parts.query, ""],
                            "template": "default.html", "positions": [rank + 1, rank + 2],
                            "score": round(4.0 / (rank + 1), 4), "category": "general"})
        return SandboxResponse.json(_body(query, results, [["bing", "timeout"]] if _one_engine_down(query) else []))

    return handle


def _one_engine_down(query: str) -> bool:
    """A healthy instance often has one engine down; results still come: not a failure."""
    return sum(map(ord, query)) % 3 == 0
