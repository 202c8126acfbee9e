"""The network boundary (DESIGN.md §5): the one HTTP client every module uses.

    async with make_web_client(settings, host_policies={...}) as web:
        r = await web.get(url)                  # robots.txt checked
        r = await web.request("POST", api_url, json=payload)   # vendor APIs: robots off
        r = await web.get_site("example.com.sg", "/about")      # https, falling back to http
        if not r.ok: record(r.error)            # one of REASONS; never raised
"""

from acra_enrich.web.client import MAX_REDIRECTS, WebClient, make_web_client
from acra_enrich.web.pacing import HostPolicy
from acra_enrich.web.redact import redact_text, redact_url
from acra_enrich.web.result import (
    CONNECT_ERROR,
    DECODING_ERROR,
    DECOMPRESSION_BOMB,
    HTTP_STATUS,
    INVALID_URL,
    NAME_NOT_RESOLVED,
    PROXY_ERROR,
    REASONS,
    ROBOTS_DISALLOWED,
    SSRF_BLOCKED,
    TIMEOUT,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    FetchResult,
)

__all__ = [
    "CONNECT_ERROR",
    "DECODING_ERROR",
    "DECOMPRESSION_BOMB",
    "HTTP_STATUS",
    "INVALID_URL",
    "MAX_REDIRECTS",
    "NAME_NOT_RESOLVED",
    "PROXY_ERROR",
    "REASONS",
    "ROBOTS_DISALLOWED",
    "SSRF_BLOCKED",
    "TIMEOUT",
    "TOO_LARGE",
    "TOO_MANY_REDIRECTS",
    "FetchResult",
    "HostPolicy",
    "WebClient",
    "make_web_client",
    "redact_text",
    "redact_url",
]
