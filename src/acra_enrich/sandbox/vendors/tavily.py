"""Tavily `POST /search` and `POST /extract`.

Auth: `Authorization: Bearer tvly-…` or (older clients) `api_key` in the JSON body; a missing
or "invalid" key is 401 `{"detail": {"error": ...}}`. Search uses the same index as the
DuckDuckGo emulation (results carry a decreasing `score`, `raw_content` on request);
extract renders pages like the Jina emulation and lists unreachable URLs in `failed_results`.
"""

from __future__ import annotations

import hashlib
import uuid

from acra_enrich.sandbox import web
from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.markup import markdown_to_text
from acra_enrich.sandbox.responses import bearer, key_ok
from acra_enrich.sandbox.search import engine
from acra_enrich.sandbox.sites import first_sentence
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import World

VENDOR = "tavily"
_MESSAGES = {400: "Invalid request.", 401: "Unauthorized: missing or invalid API key.",
             429: "Your request has been blocked due to excessive requests.", 500: "Internal Server Error"}


def _error(status: int, message: str | None = None) -> SandboxResponse:
    return SandboxResponse.json({"detail": {"error": message or _MESSAGES.get(status, "Internal Server Error")}}, status)


def _request_id(body: object) -> str:
    return str(uuid.UUID(hashlib.md5(repr(body).encode()).hexdigest()))


def make_handler(world: World, faults: Faults) -> Handler:
    def handle(req: SandboxRequest) -> SandboxResponse:
        if req.method != "POST" or req.path not in ("/search", "/extract"):
            return _error(404, "Not Found")
        try:
            body = req.json() or {}
        except ValueError:
            return _error(400, "Invalid JSON body.")
        if not key_ok(bearer(req.headers) or body.get("api_key")):
            return _error(401)
        fault = faults.take(VENDOR)
        if fault:
            return fault_response(fault, _error)
        return _search(world, body) if req.path == "/search" else _extract(world, body)

    return handle


def _search(world: World, body: dict) -> SandboxResponse:
    query = str(body.get("query") or "").strip()
    if not query:
        return _error(400, "Query is missing.")
    limit = max(1, min(int(body.get("max_results") or 5), 20))
    include = [d.lower() for d in body.get("include_domains") or []]
    exclude = [d.lower() for d in body.get("exclude_domains") or []]
    hits = [h for h in engine(world).search(query, limit=30)
            if (not include or any(d in h.url for d in include)) and not any(d in h.url for d in exclude)]
    results = []
    for rank, hit in enumerate(hits[:limit]):
        item: dict[str, object] = {"url": hit.url, "title": hit.title, "content": hit.snippet,
                                   "score": round(0.92 - rank * 0.07, 4), "raw_content": None}
        if body.get("include_raw_content"):
            reading = web.read(world, hit.url)
            if reading is not None and reading.status < 400:
                as_text = body["include_raw_content"] == "text"
                item["raw_content"] = markdown_to_text(reading.markdown) if as_text else reading.markdown
        results.append(item)
    answer = None
    if body.get("include_answer") and results:
        answer = first_sentence(str(results[0]["content"]))
    return SandboxResponse.json({"query": query, "follow_up_questions": None, "answer": answer, "images": [],
                                 "results": results, "response_time": 0.42, "request_id": _request_id(body)})


def _extract(world: World, body: dict) -> SandboxResponse:
    urls = body.get("urls")
    urls = [urls] if isinstance(urls, str) else list(urls or [])
    if not urls or len(urls) > 20:
        return _error(400, "Provide between 1 and 20 urls.")
    results, failed = [], []
    for url in urls:
        reading = web.read(world, str(url))
        if reading is None or reading.status >= 400:
            failed.append({"url": url, "error": "Failed to fetch url"})
            continue
        content = markdown_to_text(reading.markdown) if body.get("format") == "text" else reading.markdown
        results.append({"url": url, "raw_content": content, "images": []})
    return SandboxResponse.json({"results": results, "failed_results": failed, "response_time": 0.61,
                                 "request_id": _request_id(body)})
