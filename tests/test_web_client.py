"""The network boundary against a real HTTP server on loopback (tests/web_server.py).

Assertions are on what the server saw (its request log and its own timestamps) and on the
reason codes the client returns; none measures how fast the client is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import socket
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from dns_server import TestDns
from web_server import CHINESE, CP1252_TEXT, JAPANESE, TestWeb

from acra_enrich.config import Settings, load_settings
from acra_enrich.web import (
    CONNECT_ERROR,
    DECOMPRESSION_BOMB,
    HTTP_STATUS,
    INVALID_URL,
    NAME_NOT_RESOLVED,
    PROXY_ERROR,
    ROBOTS_DISALLOWED,
    SSRF_BLOCKED,
    TIMEOUT,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    HostPolicy,
    make_web_client,
    redact_text,
    redact_url,
)
from acra_enrich.web.decode import decode_text
from acra_enrich.web.pacing import HostSlot
from acra_enrich.web.retry import parse_retry_after
from acra_enrich.web.ssrf import precheck

# Server clocks and ours are the same monotonic clock; this allows for thread scheduling only.
CLOCK_SLACK_S = 0.03


@pytest.fixture(scope="module")
def server() -> Iterator[TestWeb]:
    web = TestWeb().start()
    yield web
    web.stop()


@pytest.fixture(autouse=True)
def fresh(server: TestWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server.reset()
    monkeypatch.chdir(tmp_path)  # no developer .env leaks into load_settings


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "enrich_allow_private_networks": True, "crawl_domain_min_interval_s": 0.0, "crawl_retry_backoff_s": 0.01,
        "crawler_timeout_s": 5.0, "enrich_http_proxy": None,
    }
    return load_settings(**{**base, **overrides})


def proxied(server: TestWeb, **overrides: Any) -> Settings:
    """Through the test server acting as the forward proxy, with the SSRF guard on."""
    return settings(enrich_http_proxy=server.proxy_url, enrich_allow_private_networks=False, **overrides)


def gaps(times: list[float]) -> list[float]:
    times = sorted(times)
    return [b - a for a, b in itertools.pairwise(times)]


# --- basic exchange ---------------------------------------------------------------------------


async def test_page_fetch_sends_user_agent_and_decodes(server: TestWeb) -> None:
    s = settings(crawler_user_agent="acra-enrich-test/9 (+https://example.org)")
    async with make_web_client(s) as web:
        r = await web.get(server.url("/hello"))
    assert r.ok and r.status == 200 and r.attempts == 1
    assert "page /hello" in r.text and r.encoding == "utf-8"
    assert r.headers["content-type"].startswith("text/html")
    assert [x.path for x in server.log] == ["/robots.txt", "/hello"]
    assert all(x.headers["user-agent"] == s.crawler_user_agent for x in server.log)
    assert web.stats["ok"] == 1


async def test_gzip_page_is_inflated(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/gzip-page"), robots=False)
    assert r.ok and r.text == "<p>compressed café</p>"
    assert server.log[0].headers["accept-encoding"] == "gzip, deflate"


# --- robots.txt -------------------------------------------------------------------------------


async def test_robots_disallowed_path_is_never_requested(server: TestWeb) -> None:
    server.robots["127.0.0.1"] = (200, "User-agent: *\nDisallow: /private\n")
    async with make_web_client(settings()) as web:
        blocked = await web.get(server.url("/private/report"))
        allowed = await web.get(server.url("/public"))
        assert not await web.robots_allowed(server.url("/private/x"))
        assert await web.robots_allowed(server.url("/public/x"))
    assert blocked.error == ROBOTS_DISALLOWED and blocked.status is None
    assert allowed.ok
    assert server.seen("/private") == []
    assert len(server.seen("/robots.txt")) == 1  # cached per origin


async def test_robots_agent_group_matches_product_token(server: TestWeb) -> None:
    server.robots["127.0.0.1"] = (200, "User-agent: acra-enrich\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/anything"))
    assert r.error == ROBOTS_DISALLOWED
    assert server.seen("/anything") == []


async def test_robots_redirected_to_another_host_serve_that_host_too(server: TestWeb) -> None:
    # An apex answering robots.txt with a redirect to www: www's file is the one that applies,
    # and the crawl that follows onto www must not fetch it a second time.
    server.robots["127.0.0.1"] = (301, server.url("/robots.txt", host="localhost"))
    server.robots["localhost"] = (200, "User-agent: *\nDisallow: /private\n")
    async with make_web_client(settings()) as web:
        first = await web.get(server.url("/hello"))
        second = await web.get(server.url("/hello", host="localhost"))
        private = await web.get(server.url("/private", host="localhost"))
    assert first.ok and second.ok and private.error == ROBOTS_DISALLOWED
    assert [(x.host, x.path) for x in server.seen("/robots.txt")] == [("127.0.0.1", "/robots.txt"),
                                                                      ("localhost", "/robots.txt")]


async def test_robots_server_error_disallows_and_404_allows(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        server.robots["127.0.0.1"] = (503, "down")
        refused = await web.get(server.url("/a"))
    async with make_web_client(settings()) as web:
        server.robots["127.0.0.1"] = (404, "none")
        fine = await web.get(server.url("/b"))
    assert refused.error == ROBOTS_DISALLOWED
    assert server.seen("/a") == []
    assert fine.ok and len(server.seen("/b")) == 1


async def test_robots_off_for_vendor_calls_and_by_host_policy(server: TestWeb) -> None:
    server.robots["127.0.0.1"] = (200, "User-agent: *\nDisallow: /\n")
    async with make_web_client(settings(), host_policies={"127.0.0.1": HostPolicy(robots=False)}) as web:
        by_policy = await web.get(server.url("/api/v1"))  # get() defaults to robots=True
    async with make_web_client(settings()) as web:
        by_call = await web.request("POST", server.url("/echo"), json={"q": 1})
    assert by_policy.ok and by_call.ok
    assert server.seen("/robots.txt") == []
    echoed = json.loads(by_call.text)
    assert echoed["method"] == "POST" and json.loads(echoed["body"]) == {"q": 1}
    assert echoed["headers"]["content-type"] == "application/json"


async def test_crawl_delay_is_a_floor_between_request_starts(server: TestWeb) -> None:
    server.robots["127.0.0.1"] = (200, "User-agent: *\nCrawl-delay: 0.4\n")
    async with make_web_client(settings(crawl_domain_min_interval_s=0.0)) as web:
        for i in range(3):
            assert (await web.get(server.url(f"/cd/{i}"))).ok
    starts = [x.at for x in server.seen("/cd/")]
    assert len(starts) == 3
    assert min(gaps(starts)) >= 0.4 - CLOCK_SLACK_S


async def test_crawl_delay_holds_from_the_robots_txt_request_on(server: TestWeb) -> None:
    # The delay is learnt from robots.txt, which is itself a request to the host: the first
    # page waits the full delay after it (a 0.1 s interval must not let it in earlier).
    server.robots["127.0.0.1"] = (200, "User-agent: *\nCrawl-delay: 0.6\n")
    async with make_web_client(settings(crawl_domain_min_interval_s=0.1)) as web:
        assert (await web.get(server.url("/first-page"))).ok
        assert (await web.get(server.url("/second-page"))).ok
    assert [x.path for x in server.log] == ["/robots.txt", "/first-page", "/second-page"]
    assert min(gaps([x.at for x in server.log])) >= 0.6 - CLOCK_SLACK_S


# --- pacing -----------------------------------------------------------------------------------


async def test_pacing_spaces_request_starts_across_concurrent_tasks(server: TestWeb) -> None:
    async with make_web_client(settings(crawl_domain_min_interval_s=0.3)) as web:
        results = await asyncio.gather(*(web.get(server.url(f"/paced/{i}")) for i in range(4)))
    assert all(r.ok for r in results)
    starts = [x.at for x in server.log]  # robots.txt is a request to the host too
    assert len(starts) == 5
    assert min(gaps(starts)) >= 0.3 - CLOCK_SLACK_S


@asynccontextmanager
async def slow_first_connection(upstream_port: int, hold_s: float) -> AsyncIterator[int]:
    """A TCP relay to `upstream_port` whose first connection takes `hold_s` to get through, as a
    new connection's handshake to a distant host does; later connections pass at once."""
    held = False

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal held
        if not held:
            held = True
            await asyncio.sleep(hold_s)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    relay_server = await asyncio.start_server(relay, "127.0.0.1", 0)
    async with relay_server:
        yield relay_server.sockets[0].getsockname()[1]


async def test_pacing_holds_at_the_host_when_a_request_reaches_it_late(server: TestWeb) -> None:
    # A request may reach the host well after it left its pacing slot (a new connection's
    # handshake, a busy event loop) while the next one goes out at once on the warm connection:
    # spacing only our starts, a pipeline run's requests reached one host 0.14 s apart under a
    # 0.3 s interval. The interval must hold where the host measures it.
    async with slow_first_connection(server.port, hold_s=0.25) as port, \
            make_web_client(settings(crawl_domain_min_interval_s=0.3)) as web:
        for i in range(2):
            assert (await web.get(f"http://127.0.0.1:{port}/late/{i}", robots=False)).ok
    arrivals = [x.at for x in server.seen("/late/")]
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.3 - CLOCK_SLACK_S


async def test_host_policy_sets_its_own_interval(server: TestWeb) -> None:
    policy = HostPolicy(min_interval_s=0.25, robots=False)
    async with make_web_client(settings(crawl_domain_min_interval_s=0.0), host_policies={server.url("/"): policy}) as web:
        results = await asyncio.gather(*(web.request("GET", server.url(f"/vendor/{i}")) for i in range(3)))
    assert all(r.ok for r in results)
    assert min(gaps([x.at for x in server.log])) >= 0.25 - CLOCK_SLACK_S


def test_autothrottle_follows_latency_and_errors_never_shorten_it() -> None:
    slot = HostSlot(min_interval_s=0.5, concurrency=2, adaptive=True)
    slot.record(4.0, success=True)  # slow host: target 4.0 / 2
    assert slot.delay_s == pytest.approx(2.0)
    slot.record(0.0, success=False)  # a fast error answer must not speed us up
    assert slot.delay_s == pytest.approx(2.0)
    slot.record(0.0, success=True)  # a fast good answer halves the way down
    assert slot.delay_s == pytest.approx(1.0)
    for _ in range(20):
        slot.record(0.0, success=True)
    assert slot.delay_s == pytest.approx(0.5)  # never below the minimum interval
    slot.set_crawl_delay(3.0)
    assert slot.delay_s == pytest.approx(3.0)  # Crawl-delay is a floor
    fixed = HostSlot(min_interval_s=0.1, concurrency=1, adaptive=False)
    fixed.record(9.0, success=True)
    assert fixed.delay_s == pytest.approx(0.1)


# --- retries ----------------------------------------------------------------------------------


async def test_transient_503_is_retried_until_it_answers(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/flaky/a?fail=2&status=503"), robots=False)
    assert r.ok and r.attempts == 3 and "recovered after 2" in r.text
    assert len(server.seen("/flaky/a")) == 3
    assert web.stats["retries"] == 2


async def test_retries_run_out_with_http_status(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/flaky/b?fail=9&status=502"), robots=False)
    assert r.error == HTTP_STATUS and r.status == 502 and r.attempts == 3
    assert len(server.seen("/flaky/b")) == 3


@pytest.mark.parametrize("status", [404, 500, 403])
async def test_other_errors_are_not_retried(server: TestWeb, status: int) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url(f"/status/{status}"), robots=False)
    assert r.error == HTTP_STATUS and r.status == status and r.attempts == 1
    assert r.text == "status page"  # the error body is kept (vendors explain themselves there)
    assert len(server.seen("/status/")) == 1


async def test_retry_after_is_honoured(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/retry-after/x?after=1"), robots=False)
    assert r.ok and r.attempts == 2
    first, second = [x.at for x in server.seen("/retry-after/x")]
    assert second - first >= 1.0 - CLOCK_SLACK_S


async def test_retry_after_longer_than_the_cap_gives_up(server: TestWeb) -> None:
    async with make_web_client(settings(crawl_retry_after_max_s=30)) as web:
        r = await web.get(server.url("/retry-after/y?after=120"), robots=False)
    assert r.error == HTTP_STATUS and r.status == 429 and r.attempts == 1
    assert "Retry-After" in r.detail
    assert len(server.seen("/retry-after/y")) == 1


async def test_retry_after_holds_the_whole_host(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        paused = asyncio.create_task(web.get(server.url("/retry-after/z?after=1"), robots=False))
        while not server.seen("/retry-after/z"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the 429 is in; another task now asks the same host
        other = await web.get(server.url("/meanwhile"), robots=False)
        assert (await paused).ok and other.ok
    asked_to_wait = server.seen("/retry-after/z")[0].at
    assert server.seen("/meanwhile")[0].at - asked_to_wait >= 1.0 - CLOCK_SLACK_S


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now) == pytest.approx(30.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


async def test_connect_refused_is_retried_then_reported(server: TestWeb) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    async with make_web_client(settings()) as web:
        r = await web.get(f"http://127.0.0.1:{closed_port}/", robots=False)
    assert r.error == CONNECT_ERROR and r.status is None and r.attempts == 3


# --- redirects --------------------------------------------------------------------------------


async def test_redirect_chain_is_followed_and_recorded(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/redirect/3"))
    assert r.ok and r.text == "<p>final</p>"
    assert r.redirects == [server.url("/redirect/2"), server.url("/redirect/1"), server.url("/redirect/0")]
    assert r.final_url == server.url("/redirect/0") and r.url == server.url("/redirect/3")


async def test_each_redirect_hop_is_robots_checked(server: TestWeb) -> None:
    server.robots["127.0.0.1"] = (200, "User-agent: *\nDisallow: /redirect/1\n")
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/redirect/3"))
    assert r.error == ROBOTS_DISALLOWED and r.final_url == server.url("/redirect/1")
    assert server.seen("/redirect/1") == [] and server.seen("/redirect/0") == []


async def test_redirect_loop_ends_after_five_hops(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/loop/a"), robots=False)
    assert r.error == TOO_MANY_REDIRECTS and len(r.redirects) == 5
    assert len(server.seen("/loop/")) == 6


async def test_cross_origin_redirect_drops_caller_credentials(server: TestWeb) -> None:
    target = server.url("/echo", host="localhost")
    async with make_web_client(settings()) as web:
        r = await web.request("GET", server.url(f"/redirect-to?url={target}"),
                              headers={"Authorization": "Bearer sekrit", "X-Api-Key": "k", "Accept": "application/json"})
    assert r.ok
    sent = next(x for x in server.log if x.path == "/echo").headers
    assert "authorization" not in sent and "x-api-key" not in sent and sent["accept"] == "application/json"
    assert server.log[0].headers["authorization"] == "Bearer sekrit"  # the first hop had it


# --- size, bombs, slow pages ------------------------------------------------------------------


async def _peak_bytes_during(coro: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = await coro
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_huge_page_stops_at_the_cap_with_bounded_memory(server: TestWeb) -> None:
    async with make_web_client(settings(crawl_max_response_bytes=256 * 1024)) as web:
        r, peak = await _peak_bytes_during(web.get(server.url("/huge"), robots=False))
    assert r.error == TOO_LARGE and r.content == b""
    assert peak < 4 * 1024 * 1024  # the page is 50 MiB


async def test_declared_length_over_the_cap_is_refused_before_reading(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/huge-declared"), robots=False, max_bytes=1024)
    assert r.error == TOO_LARGE and "Content-Length" in r.detail


async def test_gzip_bomb_is_caught_with_bounded_memory(server: TestWeb) -> None:
    async with make_web_client(settings(crawl_max_response_bytes=1024 * 1024)) as web:
        r, peak = await _peak_bytes_during(web.get(server.url("/bomb"), robots=False))
    assert r.error == DECOMPRESSION_BOMB and r.content == b""
    assert peak < 8 * 1024 * 1024  # it inflates to 128 MiB


async def test_big_compressed_page_is_too_large_not_a_bomb(server: TestWeb) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url("/gzip-big"), robots=False, max_bytes=512 * 1024)
    assert r.error == TOO_LARGE and "Content-Length" not in r.detail  # found while inflating


async def test_dripping_page_ends_at_the_wall_clock_cap(server: TestWeb) -> None:
    async with make_web_client(settings(crawler_timeout_s=1.0)) as web:
        r = await web.get(server.url("/drip"), robots=False)
    assert r.error == TIMEOUT and r.attempts == 1  # a drip is not retried: it would drip again
    assert r.elapsed_s < 5  # it ended (the page would drip for a minute)


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected", "encoding"), [
    ("/cp1252-meta", CP1252_TEXT, "cp1252"),  # <meta charset>, no header charset
    ("/latin1-header", CP1252_TEXT, "cp1252"),  # labelled ISO-8859-1, read as browsers do
    ("/sjis", JAPANESE, "cp932"),  # no charset anywhere: detected
    ("/gb2312", CHINESE, "gb18030"),
])
async def test_non_utf8_pages_decode_right(server: TestWeb, path: str, expected: str, encoding: str) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(server.url(path), robots=False)
    assert r.ok and expected in r.text and r.encoding == encoding


def test_decode_text_bom_and_binary() -> None:
    assert decode_text(b"\xef\xbb\xbfcaf\xc3\xa9", "text/html; charset=iso-8859-1") == ("café", "utf-8")
    assert decode_text(b"\xff\xfe" + "hé".encode("utf-16-le"), "text/plain") == ("hé", "utf-16-le")
    assert decode_text(b"\x89PNG\r\n", "image/png") == ("", None)


# --- https -> http fallback and the proxy path ---------------------------------------------------


async def test_get_site_through_proxy_falls_back_to_http(server: TestWeb) -> None:
    async with make_web_client(proxied(server)) as web:
        first = await web.get_site("acme.test")
        again = await web.get_site("acme.test", "/about")
    assert first.ok and first.final_url == "http://acme.test/"
    assert again.ok and again.final_url == "http://acme.test/about"
    assert web.site_scheme("acme.test") == "http" and web.stats["https_fallback"] == 1
    assert [(x.method, x.target) for x in server.log] == [
        ("CONNECT", "acme.test:443"),  # https refused by the proxy: once, then remembered
        ("GET", "http://acme.test/robots.txt"),  # absolute-form: the proxy path
        ("GET", "http://acme.test/"),
        ("GET", "http://acme.test/about"),
    ]


async def test_https_through_proxy_is_a_proxy_error(server: TestWeb) -> None:
    async with make_web_client(proxied(server)) as web:
        r = await web.get("https://acme.test/page", robots=False)
    assert r.error == PROXY_ERROR and r.attempts == 1  # a refused CONNECT is not retried


async def test_get_site_probes_https_once_then_retries_http() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    async with make_web_client(settings()) as web:
        r = await web.get_site(f"127.0.0.1:{closed_port}")
    assert r.error == CONNECT_ERROR and r.final_url.startswith("http://")
    # robots.txt is where each scheme first fails: https tried once, http three times.
    assert web.stats["requests"] == 1 + 3 and web.stats["https_fallback"] == 1
    assert web.site_scheme(f"127.0.0.1:{closed_port}") is None  # nothing answered


async def test_get_site_direct_falls_back_when_tls_fails(server: TestWeb) -> None:
    host = f"127.0.0.1:{server.port}"
    async with make_web_client(settings()) as web:
        r = await web.get_site(host, "/home")
    assert r.ok and r.final_url == server.url("/home") and web.site_scheme(host) == "http"


# --- SSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/x",
    "http://10.1.2.3:{port}/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/x",
    "http://localhost:{port}/x",
    "http://2130706433:{port}/x",  # 127.0.0.1 written as one number
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/latest/",
])
@pytest.mark.parametrize("via_proxy", [False, True])
async def test_private_targets_are_refused(server: TestWeb, url: str, via_proxy: bool) -> None:
    s = proxied(server) if via_proxy else settings(enrich_allow_private_networks=False)
    async with make_web_client(s) as web:
        r = await web.get(url.format(port=server.port))
    assert r.error == SSRF_BLOCKED
    assert server.log == []


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["93.184.216.34", "127.0.0.1"]])
async def test_name_resolving_to_loopback_is_refused_at_connect(server: TestWeb, addresses: list[str]) -> None:
    with TestDns({"rebind.example": addresses}) as dns:
        assert precheck("rebind.example") is None  # only resolution can tell
        async with make_web_client(settings(enrich_allow_private_networks=False, enrich_dns_servers=dns.servers)) as web:
            r = await web.get(f"http://rebind.example:{server.port}/x")
            exists = await web.name_exists("rebind.example")
    assert r.error == SSRF_BLOCKED and "127.0.0.1" in r.detail
    assert exists is False  # a guess of this name is never fetched either
    assert server.log == []
    assert dns.asked("rebind.example") == 2  # A and AAAA once: the guard and name_exists share the cache


async def test_name_resolving_to_loopback_reaches_it_when_private_allowed(server: TestWeb) -> None:
    with TestDns({"rebind.example": ["127.0.0.1"]}) as dns:  # the control: the resolution works
        async with make_web_client(settings(enrich_allow_private_networks=True, enrich_dns_servers=dns.servers)) as web:
            r = await web.get(f"http://rebind.example:{server.port}/x", robots=False)
    assert r.ok and server.seen("/x")[0].host == "rebind.example"


# --- names that do not exist cost a lookup, not a request --------------------------------------


async def test_a_name_without_an_address_is_never_requested(server: TestWeb) -> None:
    with TestDns({"acme.example": ["127.0.0.1"]}, empty=["empty.example"], failing=["flaky.example"]) as dns:
        async with make_web_client(settings(enrich_dns_servers=dns.servers)) as web:
            found = [await web.name_exists(n) for n in ("acme.example", "nosuch.example", "empty.example",
                                                        "flaky.example", "127.0.0.1")]
            site = await web.get_site(f"nosuch.example:{server.port}", attempts=1)
            again = await web.get_site(f"nosuch.example:{server.port}")
    assert found == [True, False, False, None, True]
    assert site.error == again.error == NAME_NOT_RESOLVED and site.status is None
    # One robots.txt attempt found the name missing: no page request, no http:// second try, no retry.
    assert server.log == [] and web.stats["https_fallback"] == 0 and web.stats["requests"] == 1
    assert dns.asked("nosuch.example") == 2  # A and AAAA, once: the fetches used the cached answer


async def test_a_name_the_proxy_cannot_resolve_ends_at_once_and_is_remembered(server: TestWeb) -> None:
    server.unresolvable.add("gone.test")
    async with make_web_client(proxied(server)) as web:
        first = await web.get_site("gone.test", attempts=1)
        exists = await web.name_exists("gone.test")
        again = await web.get_site("gone.test")
        other = await web.get_site("acme.test")
    assert first.error == again.error == NAME_NOT_RESOLVED and exists is False
    assert [(x.method, x.target) for x in server.log] == [
        ("CONNECT", "gone.test:443"),  # the proxy refuses tunnels (405): remembered for every site
        ("GET", "http://gone.test/robots.txt"),  # 503 ERR_DNS_FAIL: no page request, no retry
        ("GET", "http://acme.test/robots.txt"),  # another site: straight to http, no CONNECT
        ("GET", "http://acme.test/"),
    ]
    assert other.ok


@pytest.mark.parametrize("probe", [True, False])
async def test_a_gateway_error_on_connect_ends_a_probe_only(server: TestWeb, probe: bool) -> None:
    server.connect_status["acme.test"] = 502  # the proxy could not reach acme.test:443
    async with make_web_client(proxied(server)) as web:
        r = await web.get_site("acme.test", attempts=1 if probe else None)
    assert [(x.method, x.path) for x in server.log] == [("CONNECT", "")] + (
        [] if probe else [("GET", "/robots.txt"), ("GET", "/")])
    assert r.ok is (not probe) and (r.proxy_status == 502) is probe


async def test_redirect_to_a_private_address_is_refused(server: TestWeb) -> None:
    targets = [f"http://127.0.0.1:{server.port}/secret", "http://localhost/secret", "http://169.254.169.254/secret"]
    async with make_web_client(proxied(server)) as web:
        results = [await web.get(f"http://open.test/redirect-to?url={t}", robots=False) for t in targets]
    assert [r.error for r in results] == [SSRF_BLOCKED] * 3
    assert all(len(r.redirects) == 1 for r in results)
    assert server.seen("/secret") == [] and len(server.seen("/redirect-to")) == 3


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "http:///nohost"])
async def test_bad_urls_are_invalid(server: TestWeb, url: str) -> None:
    async with make_web_client(settings()) as web:
        r = await web.get(url)
    assert r.error == INVALID_URL and "pw" not in repr(r)


# --- secrets ----------------------------------------------------------------------------------


async def test_api_key_never_reaches_logs_details_or_stats(server: TestWeb) -> None:
    secret = "zb-SECRET-0123456789"
    with structlog.testing.capture_logs() as logs:
        async with make_web_client(settings()) as web:
            r = await web.request("GET", server.url("/flaky/k"), params={"fail": 9, "api_key": secret})
    assert r.error == HTTP_STATUS and r.attempts == 3
    assert f"api_key={secret}" in server.seen("/flaky/k")[0].path  # it was sent
    assert logs, "expected retry and fetch log lines"
    for text in [repr(r), r.detail, str(web.stats), *map(str, logs)]:
        assert secret not in text


def test_redaction_helpers() -> None:
    assert redact_url("https://api.zerobounce.net/v2/validate?api_key=abc&email=a%40b.sg") == (
        "https://api.zerobounce.net/v2/validate?api_key=REDACTED&email=a%40b.sg")
    assert redact_url("http://u:p@h.sg/?token=t&monkey=1") == "http://REDACTED@h.sg/?token=REDACTED&monkey=1"
    assert redact_text("failed GET https://x.sg/?apikey=abc&q=1: boom") == "failed GET https://x.sg/?apikey=REDACTED&q=1: boom"


def test_webhook_tokens_in_url_paths_are_redacted() -> None:
    from acra_enrich.web import redact_text, redact_url

    url = "https://hooks.slack.com/services/T000/B000/abcdefSECRET123"
    assert "abcdefSECRET123" not in redact_url(url)
    assert redact_url(url).startswith("https://hooks.slack.com/services/T000/B000/")
    assert "abcdefSECRET123" not in redact_text(f"POST {url} failed")
