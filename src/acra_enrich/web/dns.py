"""Name lookups for the web client: asynchronous DNS (dnspython) behind a bounded TTL cache.

One lookup serves two purposes. Guessed domains are looked up before any HTTP: a name that
does not exist (NXDOMAIN) or has no address ends the guess for the price of a DNS query,
with no politeness slot and no https -> http second try. And the SSRF-guarded transport
connects through the same cache, so the address that was vetted is the one connected to.

`ENRICH_DNS_SERVERS` (host or host:port, comma-separated) points the resolver at given
servers, e.g. a local caching resolver; unset, the system's resolv.conf is used, and where
there is none, the operating system's getaddrinfo.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from acra_enrich.web.lru import BoundedCache

LookupStatus = Literal["found", "nxdomain", "no_address", "error"]
FOUND: LookupStatus = "found"
NXDOMAIN: LookupStatus = "nxdomain"  # the name does not exist
NO_ADDRESS: LookupStatus = "no_address"  # the name exists but has no A/AAAA record
LOOKUP_ERROR: LookupStatus = "error"  # timeout, SERVFAIL, no server answered: nothing is known

LOOKUP_TIMEOUT_S = 5.0
MAX_CACHED_NAMES = 50_000
# TTLs: the record's own, within these bounds; answers that say nothing are kept briefly.
MIN_TTL_S, MAX_TTL_S = 60.0, 3600.0
NEGATIVE_TTL_S = 900.0
ERROR_TTL_S = 30.0


@dataclass(frozen=True)
class NameLookup:
    host: str
    status: LookupStatus
    addresses: tuple[str, ...] = ()
    detail: str = ""
    ttl_s: float = NEGATIVE_TTL_S

    @property
    def exists(self) -> bool | None:
        """True: it has an address; False: it certainly has none; None: unknown (look again later)."""
        if self.status == FOUND:
            return True
        return None if self.status == LOOKUP_ERROR else False


class Resolver(Protocol):
    async def lookup(self, host: str) -> NameLookup: ...


def parse_servers(spec: str | None) -> list[tuple[str, int]]:
    """`1.1.1.1, 127.0.0.1:5353, [::1]:53` -> [(address, port)]; ValueError naming the bad entry."""
    servers = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, port = item, 53
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif item.count(":") == 1:
            host, _, port_text = item.partition(":")
            port = int(port_text)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address (optionally with :port)") from None
        if not 0 < port < 65536:
            raise ValueError(f"{item!r}: port out of range")
        servers.append((host, port))
    return servers


class DnsResolver:
    """A and AAAA through dnspython's asyncio resolver."""

    def __init__(self, servers: Sequence[tuple[str, int]] = (), timeout_s: float = LOOKUP_TIMEOUT_S) -> None:
        if servers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in servers]
        else:
            self._resolver = dns.asyncresolver.Resolver()  # resolv.conf; raises when there is none
        self._resolver.lifetime = timeout_s
        # Names are absolute (acme.com.sg): never try them under the host's search domains.
        self._resolver.use_search_by_default = False

    async def _query(self, host: str, rdtype: dns.rdatatype.RdataType) -> NameLookup:
        try:
            answer = await self._resolver.resolve(host, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return NameLookup(host, NXDOMAIN, detail="NXDOMAIN")
        except dns.resolver.NoAnswer:
            return NameLookup(host, NO_ADDRESS, detail=f"no {rdtype.name} record")
        except dns.exception.Timeout:
            return NameLookup(host, LOOKUP_ERROR, detail="DNS timeout", ttl_s=ERROR_TTL_S)
        except (dns.resolver.NoNameservers, dns.exception.DNSException) as exc:
            return NameLookup(host, LOOKUP_ERROR, detail=f"{type(exc).__name__}: {exc}"[:200], ttl_s=ERROR_TTL_S)
        addresses = tuple(str(r.address) for r in answer)
        ttl = answer.rrset.ttl if answer.rrset is not None else MIN_TTL_S
        return NameLookup(host, FOUND, addresses, ttl_s=min(max(float(ttl), MIN_TTL_S), MAX_TTL_S))

    async def lookup(self, host: str) -> NameLookup:
        v4, v6 = await asyncio.gather(self._query(host, dns.rdatatype.A), self._query(host, dns.rdatatype.AAAA))
        found = [x for x in (v4, v6) if x.status == FOUND]
        if found:
            return NameLookup(host, FOUND, tuple(a for x in found for a in x.addresses),
                              ttl_s=min(x.ttl_s for x in found))
        if NXDOMAIN in (v4.status, v6.status):
            return v4 if v4.status == NXDOMAIN else v6
        # An error on one family leaves the name unknown, not missing.
        return v4 if v4.status == LOOKUP_ERROR else v6


class SystemResolver:
    """The operating system's getaddrinfo (hosts file, nsswitch), for hosts without resolv.conf."""

    async def lookup(self, host: str) -> NameLookup:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_NONAME:
                return NameLookup(host, NXDOMAIN, detail=exc.strerror or "name not known")
            nodata = getattr(socket, "EAI_NODATA", None)
            if nodata is not None and exc.errno == nodata:
                return NameLookup(host, NO_ADDRESS, detail=exc.strerror or "no address")
            return NameLookup(host, LOOKUP_ERROR, detail=exc.strerror or str(exc), ttl_s=ERROR_TTL_S)
        addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
        return NameLookup(host, FOUND, addresses, ttl_s=MIN_TTL_S)


class CachingResolver:
    """Answers from the cache while fresh; one query per name however many ask at once."""

    def __init__(self, inner: Resolver, max_entries: int = MAX_CACHED_NAMES) -> None:
        self._inner = inner
        self._cache: BoundedCache[str, tuple[float, NameLookup]] = BoundedCache(max_entries)
        self._pending: dict[str, asyncio.Future[NameLookup]] = {}
        self.queries = 0  # lookups sent to the resolver (cache misses)
        self.hits = 0

    async def lookup(self, host: str) -> NameLookup:
        host = host.lower().rstrip(".")
        if _literal(host):
            return NameLookup(host, FOUND, (host.strip("[]"),), ttl_s=MAX_TTL_S)
        cached = self._cache.get(host)
        if cached is not None and cached[0] > time.monotonic():
            self.hits += 1
            return cached[1]
        pending = self._pending.get(host)
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        future: asyncio.Future[NameLookup] = asyncio.get_running_loop().create_future()
        self._pending[host] = future
        try:
            self.queries += 1
            found = await self._inner.lookup(host)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters (if any) get it too
            raise
        finally:
            self._pending.pop(host, None)
        future.set_result(found)
        self._cache.put(host, (time.monotonic() + found.ttl_s, found))
        return found


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def make_resolver(servers: str | None, *, system: bool = False) -> CachingResolver:
    """The process's resolver: dnspython against `servers`; else the operating system's when
    `system` (private networks allowed: sandbox and tests use names only the hosts file
    knows); else dnspython against resolv.conf, or the operating system's without one."""
    parsed = parse_servers(servers)
    inner: Resolver
    if not parsed and system:
        inner = SystemResolver()
    else:
        try:
            inner = DnsResolver(parsed)
        except dns.resolver.NoResolverConfiguration:
            inner = SystemResolver()
    return CachingResolver(inner)
