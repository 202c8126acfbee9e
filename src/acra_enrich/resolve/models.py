"""Records that cross the resolution layers: mentions, mapping hits, results, queue rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal, NamedTuple, Sequence

from acra_enrich.resolve.normalize import clean_text, normalize_name

MatchType = Literal["uen", "plan_code", "account_name", "customer_name", "normalized_name"]

# Strongest first: the order in which a mention's keys are trusted, and each match
# type's default `company_mapping.priority` (lower wins).
MATCH_TYPES: tuple[MatchType, ...] = ("uen", "plan_code", "account_name", "customer_name", "normalized_name")
DEFAULT_PRIORITY: dict[str, int] = {t: i + 1 for i, t in enumerate(MATCH_TYPES)}

# company_mapping.source of a placeholder row: a TEMP id given to a mention without a
# name. Every other source (an import, a provider's cached answer) replaces it.
TEMP_SOURCE = "temp"


# No company's name, code or UEN is this long: a longer field (notes pasted into a name
# column, say) is not a key. It is neither looked up nor stored, and PostgreSQL could not
# index it anyway (an index entry holds about 2,700 bytes).
MAX_KEY_CHARS = 300
MAX_ID_CHARS = 100  # a mapping's company_id and source


def fits_key(value: str | None) -> str | None:
    """`value` when it can be a key, else None."""
    return value if value is not None and len(value) <= MAX_KEY_CHARS else None


# A mention's aliases by slot, strongest first: its UEN, plan code, account name, customer
# name, and the normalised forms of its customer name and (when different) account name.
KeySlots = tuple[str, str, str, str, str, str]
SLOT_TYPES: tuple[MatchType, ...] = (
    "uen", "plan_code", "account_name", "customer_name", "normalized_name", "normalized_name")


class ResolutionStatus(str, Enum):
    SUCCESS_INTERNAL = "SUCCESS_INTERNAL"
    SUCCESS_EXTERNAL = "SUCCESS_EXTERNAL"
    PENDING_LOOKUP = "PENDING_LOOKUP"
    TEMP_ASSIGNED = "TEMP_ASSIGNED"


def alias_key(match_type: str, value: str | None) -> str | None:
    """How an alias of this match type is stored and looked up (None: nothing to look up)."""
    if match_type == "normalized_name":
        return normalize_name(value) or None
    text = clean_text(value)
    if text is None:
        return None
    if match_type == "uen":
        return text.replace(" ", "").upper()
    if match_type == "plan_code":
        return text.upper()
    return text


@dataclass(frozen=True)
class Mention:
    """One company mention as another system hands it to us: trimmed, NFKC, single-spaced
    (blank fields are None)."""

    plan_code: str | None = None
    customer_name: str | None = None
    account_name: str | None = None
    uen: str | None = None

    def __post_init__(self) -> None:
        for name in ("plan_code", "customer_name", "account_name", "uen"):
            object.__setattr__(self, name, clean_text(getattr(self, name)))

    @classmethod
    def of(
        cls,
        *,
        plan_code: str | None = None,
        customer_name: str | None = None,
        account_name: str | None = None,
        uen: str | None = None,
    ) -> "Mention":
        return cls(plan_code, customer_name, account_name, uen)

    def key_slots(self) -> KeySlots:
        """The aliases to look up in company_mapping, one per slot of `SLOT_TYPES` ('' where
        the mention has none, or one too long to be a key), each as `alias_key` stores it
        (the fields are clean already)."""
        uen, plan_code = fits_key(self.uen), fits_key(self.plan_code)
        account_name, customer_name = fits_key(self.account_name), fits_key(self.customer_name)
        name_key = normalize_name(customer_name)
        account_key = normalize_name(account_name)
        return (
            "" if uen is None else uen.replace(" ", "").upper(),
            "" if plan_code is None else plan_code.upper(),
            account_name or "",
            customer_name or "",
            name_key,
            "" if account_key == name_key else account_key,
        )


def keys_of(slots: KeySlots) -> list[tuple[str, str]]:
    """A mention's (match_type, alias) pairs, strongest first, from its key slots."""
    return [(match_type, alias) for match_type, alias in zip(SLOT_TYPES, slots) if alias]


def placeholder_keys(keys: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Of a mention's keys, those that keep a TEMP id stable for a nameless mention (never
    a UEN: the registry may learn it later, and a placeholder must not hide it)."""
    return tuple((t, a) for t, a in keys if t in ("plan_code", "account_name"))


class MappingHit(NamedTuple):
    """A company_mapping row as found (a tuple: one is made per mention found)."""

    match_type: str
    alias: str
    company_id: str
    source: str
    priority: int
    confidence: float | None

    @property
    def is_placeholder(self) -> bool:
        return self.source == TEMP_SOURCE


@dataclass(frozen=True)
class MappingEntry:
    """One row to write into company_mapping (alias already in its stored form)."""

    match_type: str
    alias: str
    company_id: str
    source: str
    priority: int
    confidence: float | None = None


class CompanyIdResult(NamedTuple):
    """One mention's answer. A tuple (as `MappingHit`): the bulk path makes one per
    mention, and a frozen dataclass costs five times as much to make."""

    company_id: str | None
    status: ResolutionStatus
    source: str
    temp_id: str | None = None
    match_type: str | None = None  # the company_mapping key that answered, for internal hits
    request_id: int | None = None  # the lookup_requests row, for PENDING_LOOKUP
    confidence: float | None = None
    detail: str | None = None  # why an external lookup did not answer, when it did not

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = self._asdict()
        data["status"] = self.status.value
        return data


@dataclass(frozen=True)
class LookupRequest:
    """A claimed lookup_requests row. `lease_until` doubles as the claim token: only the
    worker holding this exact lease may finish the row."""

    id: int
    name: str
    normalized_name: str
    attempts: int
    lease_until: datetime
    created_at: datetime
    mapped_company_id: str | None = None  # mapped since it was queued (an import, another worker)


@dataclass
class QueueRunReport:
    claimed: int = 0
    done: int = 0
    retrying: int = 0  # failed this time, will be tried again later
    failed: int = 0  # failed for good (retries exhausted)
    released: int = 0  # handed back untouched because the provider rate-limited us
    lost: int = 0  # finished after the lease had passed to another worker; not recorded
    stopped_reason: str | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
