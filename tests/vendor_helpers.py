"""Shared pieces of the vendor tests: one sandbox world, the product pointed at it, vendor clients.

Test modules import the `sandbox` and `sb` fixtures from here (conftest.py stays generic):
`sandbox` starts one sandbox per importing module, `sb` resets it for each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import psycopg
import pytest

from acra_enrich.config import Settings
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.sandbox.vendors.ddg import DEFAULT_LIMIT as DDG_DEFAULT_LIMIT
from acra_enrich.sandbox.vendors.ddg import DEFAULT_WINDOW_S as DDG_DEFAULT_WINDOW_S
from acra_enrich.sandbox.world import SandboxCompany
from acra_enrich.vendors import Vendors, build_vendors, make_vendor_web_client


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=11, companies=80) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: SandboxHandle, env: dict[str, str], db: psycopg.Connection,
       monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    """The sandbox, reset, with the product pointed at it (and a clean database)."""
    sandbox.reset()
    sandbox.set_ddg_rate_limit(DDG_DEFAULT_LIMIT, DDG_DEFAULT_WINDOW_S)
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    # Tests need no politeness towards the sandbox except where they set it themselves.
    monkeypatch.setenv("VENDOR_MIN_INTERVAL_SCALE", "0")
    monkeypatch.setenv("DDG_MIN_INTERVAL_S", "0")
    monkeypatch.setenv("CRAWL_RETRY_BACKOFF_S", "0.01")
    monkeypatch.setenv("CRAWL_RETRY_AFTER_MAX_S", "0.5")  # the sandbox's Retry-After: 1 is then not waited for
    return sandbox


@asynccontextmanager
async def vendor_bundle(settings: Settings) -> AsyncIterator[Vendors]:
    """Every vendor client, as the pipeline builds them, on a vendor web client of its own."""
    async with make_vendor_web_client(settings) as web:
        bundle = build_vendors(settings, web)
        try:
            yield bundle
        finally:
            bundle.close()


def company_where(sb: SandboxHandle, *tests: Callable[[SandboxCompany], bool]) -> SandboxCompany:
    for company in sb.world.companies:
        if company.truth.domain and all(test(company) for test in tests):
            return company
    raise AssertionError("the sandbox world has no company of that kind: pick another seed")


__all__ = ["company_where", "sandbox", "sb", "vendor_bundle"]
