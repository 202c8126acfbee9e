"""The one httpx transport: through ENRICH_HTTP_PROXY, or direct through the product's resolver
with the SSRF-guarded backend."""

from __future__ import annotations

import httpcore
import httpx

from acra_enrich.config import Settings
from acra_enrich.web.dns import Resolver
from acra_enrich.web.ssrf import GuardedBackend

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def operator_hosts(settings: Settings) -> frozenset[str]:
    """Hosts of self-hosted services the operator configured (SEARXNG_BASE_URL), which may live
    on a private network: the SSRF guard is for addresses pages and redirects choose, not for
    the operator's own configuration. Redirects away from them are vetted as ever."""
    hosts = set()
    for url in (settings.searxng_base_url,):
        if url:
            hosts.add(httpx.URL(url).host.lower())
    return frozenset(hosts)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with a connection pool whose sockets come from GuardedBackend.

    httpx does not expose httpcore's `network_backend`, so the pool httpx built is replaced
    by an identical one that has it (tests check that a name resolving to loopback is refused).
    """

    def __init__(self, resolver: Resolver, *, vet: bool = True, trusted: frozenset[str] = frozenset(),
                 limits: httpx.Limits = LIMITS) -> None:
        super().__init__(trust_env=False, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx.AsyncHTTPTransport no longer keeps its pool in _pool; update GuardedTransport")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(resolver, vet=vet, trusted=trusted),
        )


def build_transport(settings: Settings, resolver: Resolver | None = None) -> httpx.AsyncHTTPTransport:
    """`resolver`: the client's (shared with its name lookups). Without one, and with private
    networks allowed (sandbox, tests), the operating system resolves as httpx does by default."""
    # trust_env=False everywhere: HTTP_PROXY and friends must not route around ENRICH_HTTP_PROXY.
    if settings.enrich_http_proxy:
        # The proxy resolves names; the client prechecks URLs (see client._vet).
        return httpx.AsyncHTTPTransport(proxy=settings.enrich_http_proxy, trust_env=False, limits=LIMITS)
    if resolver is None:
        if not settings.enrich_allow_private_networks:
            raise ValueError("a direct transport with the SSRF guard needs the client's resolver")
        return httpx.AsyncHTTPTransport(trust_env=False, limits=LIMITS)
    return GuardedTransport(resolver, vet=not settings.enrich_allow_private_networks, trusted=operator_hosts(settings))
