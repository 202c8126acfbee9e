"""SSRF guard: which hosts and addresses the product may talk to.

Two layers. `precheck` looks at the URL alone (literal IPs in any notation a resolver
accepts, internal host names); it is all that can be checked when a proxy resolves names.
Without a proxy, `GuardedBackend` resolves the name itself (through the web client's
resolver, web.dns, whose cache the guessed-domain lookups share), vets every address and
connects to a vetted one, so a name that resolves (or re-resolves) to a private address
never gets a socket: the check and the connection use the same lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable

import httpcore

from acra_enrich.web.dns import FOUND, LOOKUP_ERROR, Resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that only mean something inside a network (or to a cloud's metadata service).
_INTERNAL_NAMES = frozenset({
    "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "broadcasthost",
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
})
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa", ".intranet", ".lan")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# What inet_aton accepts: 127.1, 0x7f.0.0.1, 2130706433, 0177.0.0.1 ...
_LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


class SSRFBlocked(Exception):
    """Raised inside the transport when a name resolves to an address the product may not reach."""


class NameNotResolved(httpcore.ConnectError):
    """The name does not exist or has no address: no connection was attempted (not worth a retry)."""


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public_address(ip: IPAddress) -> bool:
    """True for globally routable unicast addresses (so not metadata, CGNAT, loopback, ...)."""
    ip = _unwrap(ip)
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_reserved:
        return False
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT):
        return False
    return ip.is_global


def literal_ip(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, in any notation resolvers accept."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def precheck(host: str) -> str | None:
    """Why this host may not be contacted (checked before sending), or None."""
    host = host.lower().rstrip(".")
    if not host:
        return "empty host"
    ip = literal_ip(host)
    if ip is not None:
        return None if is_public_address(ip) else f"address {ip} is not public"
    if host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES):
        return f"host {host} is an internal name"
    if "." not in host:
        return f"host {host} is a single-label (intranet) name"
    return None


def first_blocked(addresses: Iterable[str]) -> str | None:
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not is_public_address(ip):
            return address
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves through the product's resolver and, with `vet`,
    connects only to vetted, public addresses.

    TLS still verifies and sends SNI for the original host name: httpcore passes the
    origin's name to start_tls, whatever address the socket went to.
    """

    def __init__(self, resolver: Resolver, *, vet: bool = True, trusted: frozenset[str] = frozenset(),
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._resolver = resolver
        self._vet = vet
        self._trusted = trusted  # operator-configured hosts: not vetted
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                found = await self._resolver.lookup(host)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        if found.status == LOOKUP_ERROR:
            raise httpcore.ConnectError(f"cannot resolve {host}: {found.detail}")
        if found.status != FOUND or not found.addresses:
            raise NameNotResolved(f"cannot resolve {host}: {found.detail or 'no address'}")
        addresses = list(found.addresses)
        # One bad address spoils the name: a resolver answering [public, private] is a rebinding trick.
        blocked = first_blocked(addresses) if self._vet and host.lower() not in self._trusted else None
        if blocked is not None:
            raise SSRFBlocked(f"{host} resolves to non-public address {blocked}")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # a found name has at least one address
        raise last_error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise SSRFBlocked("unix sockets are not reachable through the web client")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
