"""The web client: the only object in the product that sends HTTP (company sites and vendor APIs).

Every request goes, hop by hop, through: URL and SSRF checks -> robots.txt -> the host's
pacing slot -> one exchange under a wall-clock cap with a streamed, capped body -> retries
on transient failures -> the next redirect hop (each hop checked again). Failures come back
as FetchResult.error reason codes; only programming errors raise.

Pacing, robots.txt, the https/http memory and the name cache live in the client: make one
per process and share it, so the per-host guarantees hold across everything the process does.

Names that do not exist cost as little as possible: without a proxy, `name_exists` asks DNS
(web.dns, cached) and a request to a name without an address never leaves the resolver;
through a proxy, an answer saying the proxy could not resolve the name ends that request at
once (no retry, no second scheme) and the name is remembered as unresolvable for a while.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, BinaryIO, Self

import httpx
import structlog

from acra_enrich.config import Settings, get_settings
from acra_enrich.web.body import BodyError, read_body
from acra_enrich.web.decode import decode_text
from acra_enrich.web.download import DownloadResult, content_range
from acra_enrich.web.dns import NEGATIVE_TTL_S, CachingResolver, make_resolver
from acra_enrich.web.lru import BoundedCache
from acra_enrich.web.pacing import HostPolicy, Pacer
from acra_enrich.web.redact import redact_text, redact_url
from acra_enrich.web.result import (
    CONNECT_ERROR,
    HTTP_STATUS,
    TOO_LARGE,
    INVALID_URL,
    NAME_NOT_RESOLVED,
    NO_ANSWER,
    PROXY_ERROR,
    ROBOTS_DISALLOWED,
    SSRF_BLOCKED,
    TIMEOUT,
    TOO_MANY_REDIRECTS,
    FetchResult,
)
from acra_enrich.web.retry import DEFAULT_ATTEMPTS, TRANSIENT_STATUSES, Transient, parse_retry_after, with_retries
from acra_enrich.web.robots import RobotsCache, agent_token
from acra_enrich.web.ssrf import NameNotResolved, SSRFBlocked, first_blocked, precheck
from acra_enrich.web.transport import build_transport, operator_hosts

log = structlog.get_logger(__name__)

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 500 * 1024  # Google reads the first 500 KiB of a robots.txt and ignores the rest
# Caller headers that may follow a redirect to another origin; the rest (API keys) may not.
_CROSS_ORIGIN_HEADERS = frozenset({"accept", "accept-language", "content-type"})
_MAX_REMEMBERED_SITES = 10_000
# A proxy's own error page when it could not resolve the name: Squid (X-Squid-Error ERR_DNS_FAIL),
# Apache ("DNS lookup failure"), mitmproxy ("Name or service not known"), Envoy ("dns resolution
# failed"), Privoxy ("No such domain"), the sandbox ("DNS lookup failed").
_PROXY_DNS_FAILURE = re.compile(
    r"err_dns_fail|dns (?:lookup|resolution)|could not resolve|cannot resolve|unable to resolve|name or service not known"
    r"|nodename nor servname|no such host|unknown host|nxdomain|no address associated|no such domain|host not found",
    re.IGNORECASE)
_PROXY_ERROR_STATUSES = frozenset({500, 502, 503, 504})
# A proxy that answers CONNECT with these does not tunnel at all (not a per-destination refusal).
_NO_TUNNEL_STATUSES = frozenset({405, 501})
GATEWAY_STATUSES = frozenset({502, 503, 504})
PROXY_PROBES_AT_ONCE = 16  # name probes in flight through the proxy, all companies together


@dataclass
class _Hop:
    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes


@dataclass
class _Outcome:
    """One exchange: an answer (status set) or a failure (error set), and whether to try again."""

    url: httpx.URL
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    error: str | None = None
    detail: str = ""
    latency_s: float = 0.0
    transient: bool = False
    connect_phase: bool = False  # failed before any byte reached the server
    proxy_status: int | None = None  # a refused CONNECT's status


def _has_cause(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class WebClient:
    def __init__(self, settings: Settings, host_policies: Mapping[str, HostPolicy] | None = None,
                 resolver: CachingResolver | None = None) -> None:
        self._timeout_s = settings.crawler_timeout_s
        self._max_bytes = settings.crawl_max_response_bytes
        self._backoff_s = settings.crawl_retry_backoff_s
        self._retry_after_max_s = settings.crawl_retry_after_max_s
        self._allow_private = settings.enrich_allow_private_networks
        self._proxied = bool(settings.enrich_http_proxy)
        self._trusted = operator_hosts(settings)
        self._agent = agent_token(settings.crawler_user_agent)
        # Through a proxy the proxy resolves; what it said it could not resolve is kept here.
        self._resolver = None if self._proxied else resolver or make_resolver(
            settings.enrich_dns_servers, system=settings.enrich_allow_private_networks)
        self._unresolvable: BoundedCache[str, float] = BoundedCache(_MAX_REMEMBERED_SITES)
        self._proxy_tunnels = True  # until the proxy refuses CONNECT outright
        self._tunnels_known = asyncio.Event()  # a CONNECT has been answered (or failed)
        self._tunnel_probe = asyncio.Lock()
        self._probe_gate = asyncio.Semaphore(PROXY_PROBES_AT_ONCE)
        self._tunnel_refusals: BoundedCache[str, int] = BoundedCache(_MAX_REMEMBERED_SITES)  # host -> CONNECT status
        self._client = httpx.AsyncClient(
            transport=build_transport(settings, self._resolver),
            timeout=httpx.Timeout(settings.crawler_timeout_s),
            follow_redirects=False,  # followed here, so every hop is checked
            trust_env=False,
            # Only what body.py can inflate with a bound on the output.
            headers={"User-Agent": settings.crawler_user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        self._pacer = Pacer(settings.crawl_domain_min_interval_s, _policies_by_host(host_policies or {}))
        self._robots = RobotsCache(self._fetch_robots_txt)
        self._site_schemes: BoundedCache[str, str] = BoundedCache(_MAX_REMEMBERED_SITES)
        self.stats: Counter[str] = Counter()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- public API ---------------------------------------------------------------------

    async def get(
        self, url: str, *, robots: bool = True, max_bytes: int | None = None,
        headers: dict[str, str] | None = None, attempts: int | None = None,
    ) -> FetchResult:
        return await self.request("GET", url, robots=robots, max_bytes=max_bytes, headers=headers, attempts=attempts)

    async def request(
        self, method: str, url: str, *, params: Any = None, json: Any = None, data: Any = None,
        headers: dict[str, str] | None = None, robots: bool = False, max_bytes: int | None = None,
        attempts: int | None = None,
    ) -> FetchResult:
        """One request, redirects followed. `attempts` (default 3) bounds tries per hop: pass 1 for writes."""
        return self._report(await self._fetch(
            method, url, params=params, json=json, data=data, headers=headers, robots=robots,
            max_bytes=max_bytes, attempts=attempts,
        ))

    async def get_site(
        self, host_or_url: str, path: str = "/", *, robots: bool = True, max_bytes: int | None = None,
        headers: dict[str, str] | None = None, attempts: int | None = None,
    ) -> FetchResult:
        """GET a company site: https:// first, http:// when https gets no answer at all.

        The scheme that answered is remembered per host (see `site_scheme`), so later calls
        go straight to it. `attempts=1` suits probes of guessed domains, where a failure
        means "not this one" rather than "try again".
        """
        target = _site_target(host_or_url, path)
        if target is None:
            return self._report(FetchResult(url=host_or_url, final_url=host_or_url, error=INVALID_URL,
                                            detail=f"not a host or URL: {redact_text(host_or_url)!r}"))
        netloc, path = target
        known = self._site_schemes.get(netloc)
        result: FetchResult | None = None
        schemes = [known] if known else ["https", "http"] if self._proxy_tunnels else ["http"]
        for scheme in schemes:
            # A first https probe does not retry connect failures: falling back is the retry.
            probing = known is None and scheme == "https"
            result = await self._fetch(
                "GET", f"{scheme}://{netloc}{path}", robots=robots, max_bytes=max_bytes, headers=headers,
                retry_connect=not probing and attempts != 1, attempts=attempts,
            )
            if result.status is not None:
                self._site_schemes.put(netloc, scheme)
            if not (probing and result.status is None and result.error in NO_ANSWER):
                break
            refused = self._tunnel_refusals.get(netloc.rsplit(":", 1)[0].strip("[]"))
            if attempts == 1 and refused in GATEWAY_STATUSES:
                result.proxy_status = refused
                break  # a probe: the proxy could not reach the name; not worth a second scheme
            self.stats["https_fallback"] += 1
        assert result is not None
        return self._report(result)

    async def download(
        self, url: str, sink: BinaryIO, *, offset: int = 0, max_bytes: int, max_seconds: float,
        headers: dict[str, str] | None = None, progress: Callable[[int, int | None], None] | None = None,
    ) -> DownloadResult:
        """GET a large file into `sink` (an open binary file), streamed (see web.download).

        With `offset` > 0 the sink is expected to hold that many bytes already: a 206 from that
        offset appends, a 200 rewrites the sink from its start. `progress` gets the file's size
        after each chunk. Redirects are followed and checked like any request; nothing is
        retried. The whole transfer must finish within `max_seconds` and `max_bytes`.
        """
        started = time.monotonic()
        result = DownloadResult(url=url, final_url=url)
        asked = {**(headers or {}), "Accept-Encoding": "identity"}
        if offset > 0:
            asked["Range"] = f"bytes={offset}-"
        try:
            hop = _Hop("GET", httpx.URL(url), asked, b"")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return self._downloaded(result, started, INVALID_URL, str(exc))
        try:
            async with asyncio.timeout(max_seconds):
                for _ in range(MAX_REDIRECTS + 1):
                    result.final_url = str(hop.url)
                    refusal = self._vet(hop.url)
                    if refusal is not None:
                        return self._downloaded(result, started, *refusal)
                    location = await self._download_hop(hop, sink, offset, max_bytes, progress, result)
                    if location is None:
                        return self._downloaded(result, started, result.error, result.detail)
                    hop = _next_hop(hop, result.status or 0, location)
                return self._downloaded(result, started, TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            return self._downloaded(result, started, TIMEOUT, f"download not finished within {max_seconds:g}s")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return self._downloaded(result, started, INVALID_URL, f"bad redirect Location: {exc}")

    async def _download_hop(self, hop: _Hop, sink: BinaryIO, offset: int, max_bytes: int,
                            progress: Callable[[int, int | None], None] | None,
                            result: DownloadResult) -> str | None:
        """One exchange of a download; the Location to follow, or None when `result` is final."""
        slot = self._pacer.slot(hop.url.host)
        request = self._client.build_request("GET", hop.url, headers=hop.headers)
        result.error, result.detail, result.written = None, "", 0
        async with slot.turn():
            sent = time.monotonic()
            try:
                response = await self._client.send(request, stream=True)
                try:
                    result.status = response.status_code
                    result.headers = {k.lower(): v for k, v in response.headers.items()}
                    slot.record(time.monotonic() - sent, success=response.status_code < 400)
                    if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                        return response.headers["location"]
                    if response.status_code not in (200, 206):
                        said = (await read_body(response, 4096, truncate=True)).decode("utf-8", "replace")
                        result.error, result.detail = HTTP_STATUS, f"HTTP {response.status_code}: {said.strip()[:300]}"
                        return None
                    if response.status_code == 206:
                        granted = content_range(response.headers.get("content-range"))
                        if granted is None or granted[0] != offset:
                            result.error = HTTP_STATUS
                            result.detail = f"206 for the wrong range ({response.headers.get('content-range')!r})"
                            return None
                        result.start, result.total = offset, granted[1]
                    else:
                        result.start = 0
                    sink.seek(result.start)
                    sink.truncate()
                    if response.status_code == 200:
                        length = response.headers.get("content-length", "")
                        result.total = int(length) if length.isdigit() else None
                    if result.total is not None and result.total > max_bytes:
                        result.error, result.detail = TOO_LARGE, f"{result.total} bytes exceeds the {max_bytes}-byte cap"
                        return None
                    async for chunk in response.aiter_raw():
                        if result.size + len(chunk) > max_bytes:
                            result.error, result.detail = TOO_LARGE, f"passed the {max_bytes}-byte cap"
                            return None
                        sink.write(chunk)
                        result.written += len(chunk)
                        if progress is not None:
                            progress(result.size, result.total)
                finally:
                    await response.aclose()
            except SSRFBlocked as exc:
                result.error, result.detail = SSRF_BLOCKED, str(exc)
            except httpx.TimeoutException as exc:
                result.error, result.detail = TIMEOUT, f"{type(exc).__name__}: {exc}"
            except httpx.ProxyError as exc:
                result.error, result.detail = PROXY_ERROR, f"proxy refused: {exc}"
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                # A cut connection: what arrived is in the sink, and the caller may resume from it.
                result.error, result.detail = CONNECT_ERROR, f"{type(exc).__name__}: {exc}"
            except BodyError as exc:
                result.error, result.detail = exc.reason, exc.detail
        return None

    def _downloaded(self, result: DownloadResult, started: float, error: str | None, detail: str) -> DownloadResult:
        result.error = error
        result.detail = redact_text(detail)
        result.elapsed_s = time.monotonic() - started
        self.stats[error or "ok"] += 1
        log.debug("web.download", url=redact_url(result.url), status=result.status, error=error,
                  detail=result.detail, start=result.start, written=result.written, total=result.total,
                  elapsed_s=round(result.elapsed_s, 3))
        return result
    async def name_exists(self, host: str) -> bool | None:
        """Whether `host` has an address: True, False (no such name, or none the product may
        reach), or None when only a request can tell (through a proxy, or DNS did not answer).
        Costs one cached DNS lookup, never an HTTP request."""
        host = host.lower().rstrip(".")
        if not self._allow_private and precheck(host) is not None:
            return False
        if self._unresolved(host):
            return False
        if self._resolver is None:
            return None
        self.stats["name_lookups"] += 1
        found = await self._resolver.lookup(host)
        if found.exists and not self._allow_private and first_blocked(found.addresses) is not None:
            return False
        return found.exists

    async def site_exists(self, host: str) -> bool | None:
        """Like `name_exists` for a site's host, through a proxy too: there the one request that
        tells is the robots.txt fetch every page fetch starts with (cached, so a site that exists
        pays nothing more), and the proxy answers it itself when the name does not resolve."""
        if not self._proxied:
            return await self.name_exists(host)
        exists = await self.name_exists(host)
        if exists is not None:
            return exists
        target = _site_target(host, "/")
        if target is None:
            return False
        if self._proxy_tunnels and not self._tunnels_known.is_set():
            # Until the proxy has answered one CONNECT, probes go one at a time: if it refuses
            # tunnels, the rest go straight to http:// instead of each asking it again.
            async with self._tunnel_probe:
                if not self._tunnels_known.is_set():
                    return await self._probe_robots(target[0])
            # Known now: the probes that queued behind the first go together, not one by one.
        async with self._probe_gate:
            return await self._probe_robots(target[0])

    async def _probe_robots(self, netloc: str) -> bool | None:
        scheme = self._site_schemes.get(netloc) or ("https" if self._proxy_tunnels else "http")
        url = httpx.URL(f"{scheme}://{netloc}/")
        if self._vet(url) is not None:
            return False
        rules = await self._robots.rules_for(url, retry_connect=False)
        if scheme == "https" and not self._proxy_tunnels:  # this probe found the proxy refuses tunnels
            return await self._probe_robots(netloc)
        if rules.error == NAME_NOT_RESOLVED or self._tunnel_refusals.get(url.host) in GATEWAY_STATUSES:
            return False
        return None if rules.error is not None else True

    def _unresolved(self, host: str) -> bool:
        until = self._unresolvable.get(host.lower())
        return until is not None and until > time.monotonic()

    def site_scheme(self, host: str) -> str | None:
        """'https' or 'http' once get_site has had an answer from this host (host[:port])."""
        return self._site_schemes.get(host.lower())

    async def robots_allowed(self, url: str) -> bool:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            return False
        if self._vet(parsed) is not None:
            return False
        rules = await self._robots.rules_for(parsed)
        return rules.allows(str(parsed), self._agent)

    # --- the request pipeline -------------------------------------------------------------

    async def _fetch(
        self, method: str, url: str, *, params: Any = None, json: Any = None, data: Any = None,
        headers: dict[str, str] | None = None, robots: bool, max_bytes: int | None,
        attempts: int | None = None, retry_connect: bool = True, robots_txt: bool = False,
    ) -> FetchResult:
        """The request pipeline; `robots_txt` marks the fetch of a robots.txt itself (read truncated, never checked)."""
        started = time.monotonic()
        result = FetchResult(url=url, final_url=url)
        try:
            content = data if isinstance(data, (bytes, str)) else None
            request = self._client.build_request(
                method, url, params=params, json=json, content=content,
                data=None if content is not None else data, headers=headers,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return self._finish(result, started, error=INVALID_URL, detail=str(exc))
        result.url = str(request.url)
        # Only what the caller chose travels hop to hop; the client adds User-Agent, Host, cookies per attempt.
        own_headers = dict(headers or {})
        if "content-type" in request.headers and not any(k.lower() == "content-type" for k in own_headers):
            own_headers["Content-Type"] = request.headers["content-type"]
        hop = _Hop(request.method, request.url, own_headers, request.content)
        cap = self._max_bytes if max_bytes is None else max_bytes
        tries = DEFAULT_ATTEMPTS if attempts is None else max(1, attempts)

        while True:
            result.final_url = str(hop.url)
            refusal = self._vet(hop.url)
            if refusal is not None:
                return self._finish(result, started, error=refusal[0], detail=refusal[1])
            if self._unresolved(hop.url.host):
                return self._finish(result, started, error=NAME_NOT_RESOLVED,
                                    detail=f"{hop.url.host} did not resolve a moment ago")
            if not robots_txt and self._robots_enabled(hop.url, robots):
                refusal = await self._robots_refusal(hop.url, retry_connect)
                if refusal is not None:
                    return self._finish(result, started, error=refusal[0], detail=refusal[1])

            async def attempt(n: int, hop: _Hop = hop) -> _Outcome:
                return await self._attempt(hop, cap=cap, truncate=robots_txt, retry_connect=retry_connect)

            outcome, result.attempts = await with_retries(attempt, attempts=tries, backoff_s=self._backoff_s)
            self.stats["retries"] += result.attempts - 1
            self.stats["requests"] += result.attempts
            location = outcome.headers.get("location") if outcome.status in REDIRECT_STATUSES else None
            if location is None or outcome.error is not None:
                return self._finish(result, started, outcome=outcome)
            if len(result.redirects) >= MAX_REDIRECTS:
                return self._finish(result, started, outcome=outcome, error=TOO_MANY_REDIRECTS,
                                    detail=f"more than {MAX_REDIRECTS} redirects")
            try:
                hop = _next_hop(hop, outcome.status or 0, location)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                return self._finish(result, started, outcome=outcome, error=INVALID_URL,
                                    detail=f"bad redirect Location: {exc}")
            result.redirects.append(str(hop.url))
            self.stats["redirects"] += 1

    async def _attempt(self, hop: _Hop, *, cap: int, truncate: bool, retry_connect: bool) -> _Outcome:
        slot = self._pacer.slot(hop.url.host)
        request = self._client.build_request(hop.method, hop.url, headers=hop.headers, content=hop.content)
        async with slot.turn():
            outcome = await self._exchange(request, cap=cap, truncate=truncate)
        answered = outcome.status is not None and outcome.error is None
        slot.record(outcome.latency_s, success=answered and (outcome.status or 0) < 400)
        if hop.url.scheme == "https" and self._proxied:
            # Any answer to a CONNECT settles whether the proxy tunnels, "cannot resolve" too
            # (it tried to open the tunnel).
            self._tunnels_known.set()
        if answered and self._proxied and self._proxy_could_not_resolve(outcome):
            self._unresolvable.put(hop.url.host.lower(), time.monotonic() + NEGATIVE_TTL_S)
            outcome.error = NAME_NOT_RESOLVED
            outcome.detail = f"the proxy could not resolve {hop.url.host} (HTTP {outcome.status})"
            return outcome
        if outcome.proxy_status is not None:
            self._tunnel_refusals.put(hop.url.host.lower(), outcome.proxy_status)
        if outcome.proxy_status in _NO_TUNNEL_STATUSES and self._proxy_tunnels:
            self._proxy_tunnels = False
            log.warning("proxy_refuses_connect", proxy_status=outcome.proxy_status,
                        note="company sites are fetched over http:// through ENRICH_HTTP_PROXY from now on")

        if answered and outcome.status in TRANSIENT_STATUSES:
            wait = parse_retry_after(outcome.headers.get("retry-after"))
            if wait is not None and wait > self._retry_after_max_s:
                outcome.detail = f"Retry-After {wait:.0f}s is longer than the {self._retry_after_max_s:.0f}s we wait"
                return outcome
            if wait is not None:
                slot.defer(wait)  # the whole host asked for the pause, not just this request
            raise Transient(outcome, wait)
        if outcome.transient and (retry_connect or not outcome.connect_phase):
            raise Transient(outcome)
        return outcome

    async def _exchange(self, request: httpx.Request, *, cap: int, truncate: bool) -> _Outcome:
        """Send once and read the body, all within CRAWLER_TIMEOUT_S of wall-clock time."""
        outcome = _Outcome(url=request.url)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.send(request, stream=True)
                try:
                    outcome.latency_s = time.monotonic() - started
                    outcome.status = response.status_code
                    outcome.headers = {k.lower(): v for k, v in response.headers.items()}
                    redirect = response.status_code in REDIRECT_STATUSES and "location" in response.headers
                    if request.method != "HEAD" and not redirect:
                        outcome.content = await read_body(response, cap, truncate=truncate)
                finally:
                    await response.aclose()
            return outcome
        except TimeoutError:
            # The wall-clock cap. Before any header it is a slow server, retried like a read
            # timeout; a body still dripping when it fires would only drip again.
            return self._failed(outcome, started, TIMEOUT, f"no complete answer within {self._timeout_s:g}s",
                                transient=outcome.status is None)
        except httpx.TimeoutException as exc:
            return self._failed(outcome, started, TIMEOUT, f"{type(exc).__name__}: {exc}", transient=True,
                                connect_phase=isinstance(exc, httpx.ConnectTimeout))
        except SSRFBlocked as exc:
            return self._failed(outcome, started, SSRF_BLOCKED, str(exc))
        except httpx.ProxyError as exc:
            # The proxy answered but refused (e.g. CONNECT refused): asking again changes nothing.
            status = str(exc).split(" ", 1)[0]
            outcome.proxy_status = int(status) if status.isdigit() else None
            return self._failed(outcome, started, PROXY_ERROR, f"proxy refused: {exc}")
        except httpx.ConnectError as exc:
            if _has_cause(exc, NameNotResolved):
                return self._failed(outcome, started, NAME_NOT_RESOLVED, str(exc), connect_phase=True)
            if _has_cause(exc, ssl.SSLError):
                return self._failed(outcome, started, CONNECT_ERROR, f"TLS: {exc}", connect_phase=True)
            # Behind a proxy, a connect failure is a failure to reach the proxy.
            reason = PROXY_ERROR if self._proxied else CONNECT_ERROR
            return self._failed(outcome, started, reason, f"connect: {exc}", transient=True, connect_phase=True)
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            return self._failed(outcome, started, CONNECT_ERROR, f"{type(exc).__name__}: {exc}", transient=True)
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            return self._failed(outcome, started, INVALID_URL, str(exc))
        except BodyError as exc:
            outcome.content = b""
            return self._failed(outcome, started, exc.reason, exc.detail)

    @staticmethod
    def _failed(
        outcome: _Outcome, started: float, reason: str, detail: str, *,
        transient: bool = False, connect_phase: bool = False,
    ) -> _Outcome:
        outcome.error = reason
        outcome.detail = detail
        outcome.transient = transient
        outcome.connect_phase = connect_phase
        if not outcome.latency_s:
            outcome.latency_s = time.monotonic() - started
        return outcome

    # --- checks -------------------------------------------------------------------------

    @staticmethod
    def _proxy_could_not_resolve(outcome: _Outcome) -> bool:
        if outcome.status not in _PROXY_ERROR_STATUSES:
            return False
        said = outcome.headers.get("x-squid-error", "") + " " + outcome.content[:2048].decode("latin-1")
        return _PROXY_DNS_FAILURE.search(said) is not None

    def _vet(self, url: httpx.URL) -> tuple[str, str] | None:
        """(reason, detail) when this URL must not be requested at all."""
        if url.scheme not in ("http", "https"):
            return INVALID_URL, f"scheme {url.scheme!r} is not http or https"
        if not url.host:
            return INVALID_URL, "no host"
        if url.userinfo:
            return INVALID_URL, "credentials in URLs are not sent"
        if self._allow_private or url.host.lower() in self._trusted:
            return None
        problem = precheck(url.host)
        return None if problem is None else (SSRF_BLOCKED, problem)

    def _robots_enabled(self, url: httpx.URL, asked: bool) -> bool:
        policy = self._pacer.policy(url.host)
        return asked if policy.robots is None else policy.robots

    async def _robots_refusal(self, url: httpx.URL, retry_connect: bool) -> tuple[str, str] | None:
        rules = await self._robots.rules_for(url, retry_connect=retry_connect)
        self._pacer.slot(url.host).set_crawl_delay(rules.crawl_delay(self._agent))
        if rules.error is not None:
            return rules.error, rules.detail
        if not rules.allows(str(url), self._agent):
            return ROBOTS_DISALLOWED, rules.detail or "disallowed by robots.txt"
        return None

    async def _fetch_robots_txt(self, url: str, retry_connect: bool) -> FetchResult:
        self.stats["robots_fetch"] += 1
        # A caller that will not retry its page (a probe) will not retry its robots.txt either.
        return await self._fetch("GET", url, robots=False, max_bytes=ROBOTS_MAX_BYTES,
                                 retry_connect=retry_connect, attempts=None if retry_connect else 1, robots_txt=True)

    # --- results ------------------------------------------------------------------------

    def _finish(
        self, result: FetchResult, started: float, *, outcome: _Outcome | None = None,
        error: str | None = None, detail: str = "",
    ) -> FetchResult:
        if outcome is not None:
            result.final_url = str(outcome.url)
            result.status = outcome.status
            result.headers = outcome.headers
            result.content = outcome.content
            result.error = outcome.error
            result.detail = outcome.detail
            result.proxy_status = outcome.proxy_status
            if result.error is None and outcome.status is not None and not 200 <= outcome.status < 300:
                result.error = HTTP_STATUS
                result.detail = result.detail or f"HTTP {outcome.status}"
        if error is not None:
            result.error, result.detail = error, detail
        result.detail = redact_text(result.detail)
        if result.content:
            result.text, result.encoding = decode_text(result.content, result.headers.get("content-type", ""))
        result.elapsed_s = time.monotonic() - started
        return result

    def _report(self, result: FetchResult) -> FetchResult:
        self.stats[result.error or "ok"] += 1
        log.debug(
            "web.fetch", url=redact_url(result.url), status=result.status, error=result.error,
            detail=result.detail, attempts=result.attempts, redirects=len(result.redirects),
            elapsed_s=round(result.elapsed_s, 3),
        )
        return result


def _next_hop(hop: _Hop, status: int, location: str) -> _Hop:
    url = hop.url.join(location.strip()).copy_with(fragment=None)
    method, content, headers = hop.method, hop.content, dict(hop.headers)
    # Browsers' (and httpx's) rewrite: 303 always, and 301/302 after a POST, continue as GET.
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, content = "GET", b""
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if not _same_origin(hop.url, url):
        headers = {k: v for k, v in headers.items() if k.lower() in _CROSS_ORIGIN_HEADERS}
    return _Hop(method, url, headers, content)


def _site_target(host_or_url: str, path: str) -> tuple[str, str] | None:
    """(netloc, path) from 'example.com', 'example.com:8080/x' or a full URL."""
    text = host_or_url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return None
    if not url.host or url.userinfo:
        return None
    netloc = url.host if url.port is None else f"{url.host}:{url.port}"
    if ":" in url.host:  # IPv6 literal
        netloc = f"[{url.host}]" if url.port is None else f"[{url.host}]:{url.port}"
    target = url.raw_path.decode("ascii") if path == "/" and url.raw_path not in (b"", b"/") else path
    return netloc.lower(), target if target.startswith("/") else "/" + target


def _policies_by_host(policies: Mapping[str, HostPolicy]) -> dict[str, HostPolicy]:
    """Keys may be host names or base URLs (vendors pass their *_BASE_URL)."""
    by_host = {}
    for key, policy in policies.items():
        host = httpx.URL(key if "://" in key else f"http://{key}").host
        by_host[host.lower()] = policy
    return by_host


def make_web_client(settings: Settings | None = None, *, host_policies: Mapping[str, HostPolicy] | None = None,
                    resolver: CachingResolver | None = None) -> WebClient:
    """The product's HTTP client; use as `async with make_web_client(settings) as web:` (or call aclose()).
    `resolver` replaces the one built from ENRICH_DNS_SERVERS (ignored through a proxy)."""
    return WebClient(settings or get_settings(), host_policies, resolver)
