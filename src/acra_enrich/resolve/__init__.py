"""Company-ID resolution (seed 004): one canonical company_id for a company mention.

Internal mappings first, then a budgeted external lookup whose answer is cached, else a
queued lookup request processed asynchronously, else an atomic temporary id.
"""

from acra_enrich.resolve.mappings import MappingStore
from acra_enrich.resolve.models import CompanyIdResult, LookupRequest, Mention, QueueRunReport, ResolutionStatus
from acra_enrich.resolve.normalize import normalize_name
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.resolve.providers import (
    AcraRegistryProvider,
    ChainProvider,
    CompanyMatch,
    LookupAuthError,
    LookupFailed,
    LookupProvider,
    LookupRateLimited,
    LookupResult,
    LookupServerError,
    LookupUnavailable,
)
from acra_enrich.resolve.queue import LookupQueue
from acra_enrich.resolve.service import CompanyEnrichmentService
from acra_enrich.resolve.temp_ids import TempIdAllocator

__all__ = [
    "AcraRegistryProvider", "ChainProvider", "CompanyEnrichmentService", "CompanyIdResult", "CompanyMatch",
    "LookupAuthError", "LookupFailed", "LookupProvider", "LookupQueue", "LookupRateLimited", "LookupRequest",
    "LookupResult", "LookupServerError", "LookupUnavailable", "MappingStore", "Mention", "QueueRunReport",
    "ResolutionStatus", "TempIdAllocator", "WritePlan", "normalize_name",
]
