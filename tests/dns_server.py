"""A small real DNS server for tests (UDP on 127.0.0.1), answering from a table.

    with TestDns({"acme.test": ["127.0.0.1"]}) as dns:
        settings(enrich_dns_servers=dns.servers)

Names in the table answer with their A/AAAA records; `empty` names exist with no address
(NOERROR, no answer); `failing` names answer SERVFAIL; every other name is NXDOMAIN. Every
query is logged as (name, type), so tests assert on what was asked.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class TestDns:
    __test__ = False  # not a pytest class

    def __init__(self, records: Mapping[str, Iterable[str]] | None = None, *, empty: Iterable[str] = (),
                 failing: Iterable[str] = ()) -> None:
        self.records = {k.lower().rstrip("."): list(v) for k, v in (records or {}).items()}
        self.empty = {n.lower() for n in empty}
        self.failing = {n.lower() for n in failing}
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def servers(self) -> str:
        """The value for ENRICH_DNS_SERVERS."""
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def asked(self, name: str) -> int:
        with self._lock:
            return sum(1 for n, _ in self.queries if n == name)

    def __enter__(self) -> TestDns:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                query = dns.message.from_wire(wire)
            except Exception:
                continue
            self._sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        question = query.question[0]
        name = question.name.to_text().lower().rstrip(".")
        with self._lock:
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
        if name in self.failing:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        if name not in self.records and name not in self.empty:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        version = 4 if question.rdtype == dns.rdatatype.A else 6 if question.rdtype == dns.rdatatype.AAAA else 0
        addresses = [a for a in self.records.get(name, []) if ipaddress.ip_address(a).version == version]
        if addresses:
            response.answer.append(dns.rrset.from_text_list(question.name, 300, dns.rdataclass.IN,
                                                            question.rdtype, addresses))
        return response
