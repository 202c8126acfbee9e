"""The sandbox server: one HTTP forward proxy that *is* the web it proxies to.

Requests arrive in absolute form (`GET http://acme.com.sg/about HTTP/1.1`, what a client
configured with ENRICH_HTTP_PROXY sends) or in origin form with a Host header, and are
routed by host: the control host, a vendor emulation (sandbox.vendors.VENDOR_HOSTS), the
world's web (company sites, aliases, parked domains, directories), else 502 as a proxy whose
DNS lookup failed. CONNECT (https tunnelling) is refused with 405, so clients must fall back
to plain http. Optional latency is added to every non-control request; responses may drip
(SandboxResponse.chunks), be gzipped, or hang (sandbox.responses).

Control host `sandbox.control` (also reachable as the server's own address, origin form):
  GET  /health                 server, world and settings summary
  GET  /requests?since=&host=  the request log: {"requests": [...], "next": seq}
  POST /reset                  clear log, faults, DuckDuckGo window and Slack inbox
  POST /faults                 {"vendor", "mode", "count"}: script failures (a vendor name or a site host)
  GET  /truth/<uen>            a company's ground truth
  GET  /companies?case=        companies (uen, name, domain, found_by, hard_cases), optionally one hard case
  POST /ddg                    {"limit", "window_s"}: DuckDuckGo rate limit
  POST /latency                {"latency_ms"}
  GET  /slack                  messages received by the Slack webhook emulation
  POST /datagovsg              {"publish": "all"|dataset id, "rate_limit", "window_s", "retry_after",
                               "cut_next_download": bytes}: the data.gov.sg emulation's knobs
  POST /odoo                   {"db", "login", "key"}: a fresh Odoo database with that API user
  GET  /odoo/<db>?model=       the records of an emulated Odoo database (res.partner by default)
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib
import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from acra_enrich.sandbox import web
from acra_enrich.sandbox.faults import FAULT_MODES, Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.responses import CUT_HEADER, GZIP_HEADER, HANG_HEADER
from acra_enrich.sandbox.vendors import VENDOR_HOSTS
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.vendors.datagovsg import Publisher
from acra_enrich.sandbox.vendors.ddg import RateLimit
from acra_enrich.sandbox.vendors.odoo import OdooState
from acra_enrich.sandbox.vendors.slack import Inbox
from acra_enrich.sandbox.world import ALL_HARD_CASES, World

log = logging.getLogger(__name__)

CONTROL_HOST = "sandbox.control"
_SELF_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
DEFAULT_HANG_S = 30.0  # a "timeout" fault outlasts the product's default 10 s client timeout
SLACK_WEBHOOK_PATH = "/services/T000/B000/XXX"


@dataclass(frozen=True)
class RequestRecord:
    seq: int
    t_wall: float  # time.time() when the request arrived
    t_monotonic: float  # time.monotonic() then (system-wide on Linux: comparable across processes)
    method: str
    host: str
    path: str
    status: int
    user_agent: str


class RequestLog:
    """Every request the sandbox answered, oldest first, bounded."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)
        self._seq = 0

    def add(self, t_wall: float, t_mono: float, method: str, host: str, path: str, status: int, ua: str) -> None:
        with self._lock:
            self._seq += 1
            self._records.append(RequestRecord(self._seq, t_wall, t_mono, method, host, path, status, ua))

    def snapshot(self, since: int = 0, host: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._records if r.seq > since and (host is None or r.host == host)]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


def sandbox_env(proxy_url: str) -> dict[str, str]:
    """Every variable the product needs to use the sandbox instead of the internet."""
    return {
        "ENRICH_HTTP_PROXY": proxy_url,
        "ENRICH_ALLOW_PRIVATE_NETWORKS": "true",
        "DDG_BASE_URL": "http://html.duckduckgo.com/html/",
        "JINA_BASE_URL": "http://r.jina.ai/",
        "TAVILY_BASE_URL": "http://api.tavily.com",
        "OPENAI_BASE_URL": "http://api.openai.com/v1",
        "APIFY_BASE_URL": "http://api.apify.com",
        "LUSHA_BASE_URL": "http://api.lusha.com",
        "ZEROBOUNCE_BASE_URL": "http://api.zerobounce.net",
        "ZEROBOUNCE_BULK_BASE_URL": "http://bulkapi.zerobounce.net",
        "EQC_BASE_URL": "http://eqc.sandbox.test",
        "SEARXNG_BASE_URL": "http://searxng.sandbox.test",
        "DATAGOVSG_BASE_URL": "http://api-open.data.gov.sg",
        "DATAGOVSG_POLL_INTERVAL_S": "0.05",
        "JINA_API_KEY": "jina_sandbox_key",
        "TAVILY_API_KEY": "tvly-sandbox-key",
        "OPENAI_API_KEY": "sk-sandbox-key",
        "APIFY_TOKEN": "apify_api_sandbox_token",
        "ENABLE_APIFY_LINKEDIN": "true",
        "LUSHA_API_KEY": "sandbox-lusha-key",
        "ENABLE_LUSHA_FALLBACK": "true",
        "ZEROBOUNCE_API_KEY": "sandbox-zerobounce-key",
        "EQC_TOKEN": "sandbox-eqc-token",
        "SLACK_WEBHOOK_URL": f"http://hooks.slack.com{SLACK_WEBHOOK_PATH}",
        # The sandbox answers at once, so the default 0.5 s per-host spacing only slows tests;
        # politeness tests and benchmarks set their own value.
        "CRAWL_DOMAIN_MIN_INTERVAL_S": "0.05",
        "VENDOR_MIN_INTERVAL_SCALE": "0",
        "DDG_MIN_INTERVAL_S": "0",
        "SEARXNG_MIN_INTERVAL_S": "0",
        "DDG_COOLDOWN_S": "5",
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(payload: Any, status: int = 200) -> SandboxResponse:
    return SandboxResponse(status, {"Content-Type": "application/json"},
                           json.dumps(payload, default=_json_default).encode())


class SandboxServer:
    def __init__(self, world: World, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0,
                 ddg_rate_limit: int | None = None, ddg_window_s: float | None = None,
                 hang_s: float = DEFAULT_HANG_S, log_size: int = 100_000) -> None:
        self.world = world
        self.latency_ms = latency_ms
        self.hang_s = hang_s
        self.faults = Faults()
        self.log = RequestLog(log_size)
        self.ddg_limit = RateLimit()
        if ddg_rate_limit is not None or ddg_window_s is not None:
            limit = ddg_rate_limit if ddg_rate_limit is not None else self.ddg_limit.limit
            self.ddg_limit.configure(limit, ddg_window_s)
        self.slack = Inbox()
        self.datagovsg = Publisher(world.seed, len(world.companies))
        self.odoo = OdooState()
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self.vendors = self._vendor_handlers()
        self.httpd = _HTTPServer((host, port), _ProxyHandler)
        self.httpd.sandbox = self
        self._thread: threading.Thread | None = None

    def _vendor_handlers(self) -> dict[str, Handler]:
        built: dict[str, Handler] = {}
        handlers: dict[str, Handler] = {}
        for host, name in VENDOR_HOSTS.items():
            if name not in built:
                module_name = f"acra_enrich.sandbox.vendors.{name}"
                try:
                    module = importlib.import_module(module_name)
                except ModuleNotFoundError as exc:
                    if exc.name != module_name:
                        raise
                    log.info("sandbox vendor %s is not available; %s will answer 502", name, host)
                    continue
                # the server owns the state its control API steers
                extras: dict[str, dict[str, Any]] = {"ddg": {"rate_limit": self.ddg_limit},
                                                     "slack": {"inbox": self.slack},
                                                     "datagovsg": {"publisher": self.datagovsg},
                                                     "odoo": {"state": self.odoo}}
                extra = extras.get(name, {})
                built[name] = module.make_handler(self.world, self.faults, **extra)
            handlers[host] = built[name]
        return handlers

    # -- lifecycle -----------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def proxy_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        return sandbox_env(self.proxy_url)

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="sandbox-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # wakes hanging and dripping handlers
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        self.log.clear()
        self.faults.clear()
        self.ddg_limit.reset()
        self.slack.clear()
        self.datagovsg.reset()
        self.odoo.reset()

    # -- routing -------------------------------------------------------------------

    def is_control(self, host: str) -> bool:
        return host == CONTROL_HOST or host in _SELF_HOSTS

    def dispatch(self, req: SandboxRequest) -> SandboxResponse:
        if self.is_control(req.host):
            return self.control(req)
        vendor = self.vendors.get(req.host)
        if vendor is not None:
            return vendor(req)
        handler = web.handler_for(self.world, req.host)
        if handler is None:
            return SandboxResponse.text(f"502 Bad Gateway: DNS lookup failed for {req.host}\n", 502)
        fault = self.faults.take(req.host)  # tests may script failures for a company site too
        if fault:
            return fault_response(fault, lambda status: SandboxResponse.html(
                f"<html><body><h1>{status}</h1></body></html>", status))
        return handler(req)

    def control(self, req: SandboxRequest) -> SandboxResponse:
        path, method = req.path.rstrip("/") or "/", req.method
        try:
            body = req.json() if method == "POST" and req.body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _json({"error": "body must be a JSON object"}, 400)
        if method == "GET" and path == "/health":
            return _json({"ok": True, "seed": self.world.seed, "companies": len(self.world.companies),
                          "decoys": len(self.world.decoys), "uptime_s": round(time.monotonic() - self.started, 3),
                          "latency_ms": self.latency_ms, "hang_s": self.hang_s,
                          "ddg": {"limit": self.ddg_limit.limit, "window_s": self.ddg_limit.window_s},
                          "hard_cases": list(ALL_HARD_CASES), "fault_modes": list(FAULT_MODES)})
        if method == "GET" and path == "/requests":
            since = int(req.arg("since") or 0)
            records = self.log.snapshot(since, req.arg("host"))
            return _json({"requests": [dataclasses.asdict(r) for r in records], "next": self.log.last_seq})
        if method == "POST" and path == "/reset":
            self.reset()
            return _json({"ok": True})
        if method == "POST" and path == "/faults":
            try:
                self.faults.inject(str(body["vendor"]), str(body["mode"]), int(body.get("count", 1)))
            except (KeyError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True})
        if method == "GET" and path.startswith("/truth/"):
            company = self.world.company(path.removeprefix("/truth/"))
            if company is None:
                return _json({"error": "unknown UEN"}, 404)
            return _json(dataclasses.asdict(company))
        if method == "GET" and path == "/companies":
            case = req.arg("case")
            return _json({"companies": [
                {"uen": c.uen, "name": c.name, "status": c.status, "domain": c.truth.domain,
                 "found_by": c.truth.found_by, "hard_cases": c.truth.hard_cases}
                for c in self.world.companies if case is None or case in c.truth.hard_cases]})
        if method == "POST" and path == "/ddg":
            try:
                self.ddg_limit.configure(int(body.get("limit", self.ddg_limit.limit)),
                                         float(body["window_s"]) if "window_s" in body else None)
            except (TypeError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True, "limit": self.ddg_limit.limit, "window_s": self.ddg_limit.window_s})
        if method == "POST" and path == "/latency":
            self.latency_ms = float(body.get("latency_ms", 0))
            return _json({"ok": True, "latency_ms": self.latency_ms})
        if method == "POST" and path == "/datagovsg":
            try:
                if "publish" in body:
                    self.datagovsg.publish(None if body["publish"] in (None, "all") else str(body["publish"]))
                if "rate_limit" in body:
                    self.datagovsg.configure_rate_limit(int(body["rate_limit"]), float(body.get("window_s", 10.0)),
                                                        bool(body.get("retry_after", True)))
                if "cut_next_download" in body:
                    self.datagovsg.cut_next_download(int(body["cut_next_download"]))
            except (TypeError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True})
        if method == "POST" and path == "/odoo":
            try:
                self.odoo.create_database(str(body["db"]), str(body["login"]), str(body["key"]))
            except KeyError as exc:
                return _json({"error": f"missing {exc}"}, 400)
            return _json({"ok": True})
        if method == "GET" and path.startswith("/odoo/"):
            name = path.removeprefix("/odoo/")
            if self.odoo.database(name) is None:
                return _json({"error": "unknown Odoo database"}, 404)
            model = req.arg("model") or "res.partner"
            try:
                return _json({"records": self.odoo.records(name, model)})
            except KeyError:
                return _json({"error": f"unknown model {model}"}, 404)
        if method == "GET" and path == "/slack":
            return _json({"messages": self.slack.messages()})
        return _json({"error": f"no control route {method} {path}"}, 404)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    sandbox: SandboxServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return  # clients hang up on bombs, drips and huge pages by design
        log.exception("sandbox connection from %s failed", client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("sandbox: " + format, *args)

    @property
    def sandbox(self) -> SandboxServer:
        return self.server.sandbox

    def do_CONNECT(self) -> None:  # noqa: N802
        host = self.path.rsplit(":", 1)[0].strip("[]").lower()
        self.sandbox.log.add(time.time(), time.monotonic(), "CONNECT", host, "", 405,
                             self.headers.get("User-Agent", ""))
        self.close_connection = True
        body = b"CONNECT (https tunnelling) is not supported by this proxy; use http://\n"
        self.send_response_only(405)
        self.send_header("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        t_wall, t_mono = time.time(), time.monotonic()
        target = self.path
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            host, path, query = (parts.hostname or ""), parts.path or "/", parts.query
        else:
            parts = urlsplit(target)
            host_header = self.headers.get("Host", "")
            host = host_header.rsplit(":", 1)[0] if not host_header.startswith("[") else host_header.split("]")[0] + "]"
            path, query = parts.path or "/", parts.query
        body = self._read_body()
        req = SandboxRequest(
            method=self.command, host=host.lower().rstrip("."), path=path,
            query=parse_qs(query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
        )
        control = self.sandbox.is_control(req.host)
        if not control and self.sandbox.latency_ms:
            self.sandbox.stopping.wait(self.sandbox.latency_ms / 1000)
        try:
            response = self.sandbox.dispatch(req)
        except Exception:  # a handler bug must show up as a 500 and in the log, not kill the connection
            log.exception("sandbox handler failed for %s %s%s", req.method, req.host, req.path)
            response = SandboxResponse.text("sandbox handler error\n", 500)
        if not control:
            # logged before the answer goes out, so a client that reads the log right after
            # its response always finds its request there
            self.sandbox.log.add(t_wall, t_mono, req.method, req.host, req.path, response.status,
                                 req.headers.get("user-agent", ""))
        self._write(response, req)

    do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve  # noqa: N815

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers carry nothing we use
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _write(self, response: SandboxResponse, req: SandboxRequest) -> None:
        headers = dict(response.headers)
        if headers.pop(HANG_HEADER, None):
            self.sandbox.stopping.wait(self.sandbox.hang_s)
            self.close_connection = True
        body = response.body
        cut = headers.pop(CUT_HEADER, None)
        if headers.pop(GZIP_HEADER, None) and response.chunks is None and body \
                and "gzip" in req.headers.get("accept-encoding", ""):
            body = gzip.compress(body, compresslevel=5, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        try:
            self.send_response_only(response.status)
            self.send_header("Date", self.date_time_string())
            for name, value in headers.items():
                self.send_header(name, value)
            streaming = response.chunks is not None and req.method != "HEAD"
            if streaming:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if req.method == "HEAD":
                return
            if streaming:
                self._stream(response.chunks or (), response.chunk_delay_s)
            elif cut is not None:
                self.wfile.write(body[: int(cut)])
                self.wfile.flush()
                self.close_connection = True  # the rest never comes: the client sees the transfer cut
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeouts, size caps): expected here

    def _stream(self, chunks: Iterable[bytes], delay_s: float) -> None:
        for i, chunk in enumerate(chunks):
            if i and delay_s and self.sandbox.stopping.wait(delay_s):
                break
            if chunk:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
