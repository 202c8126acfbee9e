"""The registry side: ACRA and SSIC files into staging, staging into companies."""

from acra_enrich.registry.acra_ingest import LoadReport, load_acra_file
from acra_enrich.registry.company_sync import SyncReport, sync_companies, upsert_company

__all__ = ["LoadReport", "SyncReport", "load_acra_file", "sync_companies", "upsert_company"]
