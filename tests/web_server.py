"""A small real HTTP server for the web-client tests: pages with the web's hard cases, and a proxy mode.

It serves on 127.0.0.1 and answers both origin-form requests (`GET /page`) and the
absolute-form requests a forward proxy gets (`GET http://acme.test/page`), routing on the
path either way; CONNECT is refused with 405, like the sandbox. Every request is logged
with the server's own monotonic timestamp, so tests assert on what the server saw.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

JAPANESE = "株式会社サンプルは東京都に本社を置くソフトウェア開発会社です。お問い合わせはメールでお願いします。会社概要、採用情報、ニュースをご覧ください。"
CHINESE = "新加坡示例公司是一家位于新加坡的软件开发公司。我们提供企业服务，欢迎联系我们了解更多信息。关于我们，招聘信息，新闻动态。"
CP1252_TEXT = "Café Société – “Premium” coffee for €5, naïve façade."

HUGE_BYTES = 50 * 1024 * 1024
BOMB_DECODED_BYTES = 128 * 1024 * 1024
CHUNK = 64 * 1024


def _gzip_bomb() -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts = [z.compress(zeros) for _ in range(BOMB_DECODED_BYTES // len(zeros))]
    return b"".join(parts) + z.flush()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is what the cap and timeout tests do; anything else is a bug.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the request had been read
    method: str
    target: str  # the request line's target: "/x" direct, "http://host/x" through the proxy
    host: str  # lower case, no port
    path: str  # path and query
    headers: dict[str, str]  # lower-case names


class TestWeb:
    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.log: list[Seen] = []
        self.robots: dict[str, tuple[int, str]] = {}  # host -> (status, body); default 404
        self.pages: dict[str, tuple[int, str]] = {}  # path (no query) -> (status, html): a test's own site
        # As a proxy: hosts it cannot resolve (answered as Squid does, 503 ERR_DNS_FAIL), and
        # CONNECT answers per host (default 405: no tunnels at all).
        self.unresolvable: set[str] = set()
        self.connect_status: dict[str, int] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._bomb = _gzip_bomb()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> TestWeb:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.log.clear()
            self.robots.clear()
            self.pages.clear()
            self.unresolvable.clear()
            self.connect_status.clear()
            self._counts.clear()

    def seen(self, path_prefix: str = "", method: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.log if s.path.startswith(path_prefix) and (method is None or s.method == method)]

    def _record(self, seen: Seen) -> int:
        with self._lock:
            self.log.append(seen)
            key = (seen.host, urlsplit(seen.path).path)
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]


def _handler_for(web: TestWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the request log is the record

        def do_CONNECT(self) -> None:
            host = self.path.split(":")[0].lower()
            web._record(Seen(time.monotonic(), "CONNECT", self.path, host, "", {}))
            status = web.connect_status.get(host, 405)
            self._send(status, b"CONNECT refused", {"Content-Type": "text/plain"})

        def do_GET(self) -> None:
            self._handle()

        def do_HEAD(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            if "://" in self.path:
                parts = urlsplit(self.path)
                host, path = (parts.hostname or "").lower(), parts.path + (f"?{parts.query}" if parts.query else "")
            else:
                host, path = headers.get("host", "").rsplit(":", 1)[0].strip("[]").lower(), self.path
            length = int(headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            count = web._record(Seen(time.monotonic(), self.command, self.path, host, path, headers))
            if "://" in self.path and host in web.unresolvable:
                return self._send(503, b"<html><body>ERROR: The requested URL could not be retrieved. Unable to "
                                  b"determine IP address from host name</body></html>",
                                  {"Content-Type": "text/html", "X-Squid-Error": "ERR_DNS_FAIL 0"})
            parts = urlsplit(path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            try:
                self._route(host, parts.path, query, count, headers, body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client hung up (the size cap and timeout tests do)

        def _route(self, host: str, path: str, query: dict[str, str], count: int,
                   headers: dict[str, str], body: bytes) -> None:
            if path == "/robots.txt":
                status, text = web.robots.get(host, (404, "not found"))
                if 300 <= status < 400:  # `text` is where it redirects
                    return self._send(status, b"", {"Location": text})
                return self._send(status, text.encode(), {"Content-Type": "text/plain"})
            if path in web.pages:
                status, page = web.pages[path]
                return self._send(status, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
            if path.startswith("/flaky/"):  # fails `fail` times with `status`, then answers
                if count <= int(query.get("fail", "2")):
                    return self._send(int(query.get("status", "503")), b"busy", {"Content-Type": "text/plain"})
                return self._html(f"<p>recovered after {count - 1}</p>")
            if path.startswith("/retry-after/"):
                if count == 1:
                    return self._send(429, b"slow down", {"Retry-After": query.get("after", "1")})
                return self._html("<p>thanks for waiting</p>")
            if path.startswith("/status/"):
                return self._send(int(path.rsplit("/", 1)[1]), b"status page", {"Content-Type": "text/plain"})
            if path.startswith("/redirect/"):
                left = int(path.rsplit("/", 1)[1])
                if left == 0:
                    return self._html("<p>final</p>")
                return self._send(302, b"", {"Location": f"/redirect/{left - 1}"})
            if path == "/loop/a":
                return self._send(302, b"", {"Location": "/loop/b"})
            if path == "/loop/b":
                return self._send(302, b"", {"Location": "/loop/a"})
            if path == "/redirect-to":
                return self._send(int(query.get("status", "302")), b"", {"Location": query["url"]})
            if path == "/huge":
                return self._stream((b"<p>" + b"x" * (CHUNK - 3) for _ in range(HUGE_BYTES // CHUNK)), 0.0)
            if path == "/huge-declared":
                return self._stream((b"y" * CHUNK for _ in range(HUGE_BYTES // CHUNK)), 0.0, length=HUGE_BYTES)
            if path == "/bomb":
                return self._send(200, web._bomb, {"Content-Type": "text/html", "Content-Encoding": "gzip"})
            if path == "/gzip-page":
                return self._send(200, gzip.compress("<p>compressed café</p>".encode()),
                                  {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"})
            if path == "/gzip-big":  # 1.2 MB that compresses about 4:1, as ordinary pages do
                digits = "".join(f"{i:08x}" for i in range(150_000)).encode()
                return self._send(200, gzip.compress(digits, 6), {"Content-Type": "text/plain", "Content-Encoding": "gzip"})
            if path == "/drip":
                return self._stream((b"." for _ in range(600)), 0.1)
            if path == "/cp1252-meta":
                page = f'<html><head><meta charset="windows-1252"><title>x</title></head><body><p>{CP1252_TEXT}</p></body></html>'
                return self._send(200, page.encode("cp1252"), {"Content-Type": "text/html"})
            if path == "/latin1-header":
                return self._send(200, f"<p>{CP1252_TEXT}</p>".encode("cp1252"),
                                  {"Content-Type": "text/html; charset=ISO-8859-1"})
            if path == "/sjis":
                return self._send(200, f"<html><body><p>{JAPANESE}</p></body></html>".encode("shift_jis"),
                                  {"Content-Type": "text/html"})
            if path == "/gb2312":
                return self._send(200, f"<html><body><p>{CHINESE}</p></body></html>".encode("gb2312"),
                                  {"Content-Type": "text/html"})
            if path == "/echo":
                payload = {"method": self.command, "headers": headers, "query": query, "body": body.decode("utf-8", "replace")}
                return self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})
            return self._html(f"<html><body><p>page {path} on {host}</p></body></html>")

        def _html(self, text: str) -> None:
            self._send(200, text.encode(), {"Content-Type": "text/html; charset=utf-8"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _stream(self, chunks: Iterable[bytes], delay_s: float, length: int | None = None) -> None:
            """A body delimited by closing the connection (or a declared length), sent chunk by chunk."""
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
                if delay_s:
                    time.sleep(delay_s)

    return Handler
