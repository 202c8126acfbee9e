"""Run the sandbox inside a test: `with running_sandbox(seed=7, companies=200) as sb: ...`.

The server runs in a background thread on a free 127.0.0.1 port. Point the product at it
with `sb.env()` (e.g. `monkeypatch.setenv` each item, or pass it to a subprocess); check
what the product did with `sb.requests()`, script failures with `sb.faults.inject(...)`.
For a sandbox in another process, use `acra-enrich sandbox serve` and the control host
(see sandbox.server).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.server import DEFAULT_HANG_S, RequestRecord, SandboxServer
from acra_enrich.sandbox.vendors.datagovsg import Publisher
from acra_enrich.sandbox.vendors.odoo import OdooState
from acra_enrich.sandbox.world import SandboxCompany, World, build_world


class SandboxHandle:
    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    @property
    def proxy_url(self) -> str:
        return self.server.proxy_url

    @property
    def port(self) -> int:
        return self.server.address[1]

    @property
    def world(self) -> World:
        return self.server.world

    @property
    def faults(self) -> Faults:
        return self.server.faults

    def requests(self, since: int = 0, host: str | None = None) -> list[RequestRecord]:
        """Snapshot of the request log (optionally after sequence `since`, for one host)."""
        return self.server.log.snapshot(since, host)

    def reset(self) -> None:
        """Clear the request log, scripted faults, the DuckDuckGo window, the Slack inbox, the
        data.gov.sg emulation (every dataset back to its first version) and the Odoo databases."""
        self.server.reset()

    def env(self) -> dict[str, str]:
        return self.server.env()

    def company(self, uen: str) -> SandboxCompany:
        found = self.world.company(uen)
        if found is None:
            raise KeyError(uen)
        return found

    @property
    def datagovsg(self) -> Publisher:
        """The data.gov.sg emulation's state: publish(), configure_rate_limit(), cut_next_download()."""
        return self.server.datagovsg

    @property
    def odoo(self) -> OdooState:
        """The Odoo emulation's databases: create_database(), add_user(), records(), edit()."""
        return self.server.odoo

    def slack_messages(self) -> list[dict[str, Any]]:
        return self.server.slack.messages()

    def set_ddg_rate_limit(self, limit: int, window_s: float | None = None) -> None:
        self.server.ddg_limit.configure(limit, window_s)

    def set_latency_ms(self, latency_ms: float) -> None:
        self.server.latency_ms = latency_ms


@contextmanager
def running_sandbox(seed: int = 1, companies: int = 200, latency_ms: float = 0, ddg_rate_limit: int | None = None,
                    *, ddg_window_s: float | None = None, hang_s: float = DEFAULT_HANG_S,
                    world: World | None = None) -> Iterator[SandboxHandle]:
    """A started sandbox for the first `companies` rows of `write_acra_csv(seed=seed)`
    (or for a prebuilt `world`), stopped on exit."""
    server = SandboxServer(world or build_world(seed, companies), latency_ms=latency_ms,
                           ddg_rate_limit=ddg_rate_limit, ddg_window_s=ddg_window_s, hang_s=hang_s)
    server.start()
    try:
        yield SandboxHandle(server)
    finally:
        server.stop()
