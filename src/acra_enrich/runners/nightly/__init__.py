"""The nightly lane: each tenant's capped daily shortlist (see dag.py), the scheduler and the
worker that runs tenants from the job queue."""

from acra_enrich.runners.nightly.dag import NightlyBusy, NightlyParams, NightlySummary, run_nightly_for_tenant

__all__ = ["NightlyBusy", "NightlyParams", "NightlySummary", "run_nightly_for_tenant"]
