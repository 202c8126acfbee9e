"""The nightly lane: each tenant's capped daily shortlist (see dag.py), the scheduler and the
worker that runs tenants from the job queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acra_enrich.runners.nightly.dag import NightlyBusy, NightlyParams, NightlySummary, run_nightly_for_tenant

__all__ = ["NightlyBusy", "NightlyParams", "NightlySummary", "run_nightly_for_tenant"]


def __getattr__(name: str) -> object:
    # The DAG brings the whole enrichment pipeline with it: it is imported on first use, so
    # that the command line's other commands (and this package's other modules) start without it.
    if name in __all__:
        from acra_enrich.runners.nightly import dag

        return getattr(dag, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
