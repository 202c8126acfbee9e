"""The request/response records every sandbox handler speaks (sites and vendor emulations alike).

A handler is a plain function `(SandboxRequest) -> SandboxResponse`; the server owns sockets,
proxy semantics, latency injection and the request log, so handlers stay easy to test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs


@dataclass(frozen=True)
class SandboxRequest:
    method: str
    host: str  # lower case, without port
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"))

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query or form field (first value)."""
        values = self.query.get(name) or (self.form().get(name) if self.method == "POST" else None)
        return values[0] if values else default


@dataclass
class SandboxResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # When set, the body is sent as these chunks with `chunk_delay_s` between them
    # (slow pages, endless streams); Content-Length is then omitted.
    chunks: Iterable[bytes] | None = None
    chunk_delay_s: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> "SandboxResponse":
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode())

    @classmethod
    def html(cls, text: str, status: int = 200, charset: str = "utf-8") -> "SandboxResponse":
        return cls(status, {"Content-Type": f"text/html; charset={charset}"}, text.encode(charset, "xmlcharrefreplace"))

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> "SandboxResponse":
        return cls(status, {"Content-Type": content_type}, text.encode("utf-8"))


Handler = Callable[[SandboxRequest], SandboxResponse]
