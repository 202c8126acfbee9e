"""The ACRA "Information on Corporate Entities" column contract (see shared/data/acra/SCHEMA.md).

Files are mapped by header name, never by position: data.gov.sg publishes a 94-column shape
and the 8-column "Entities Registered with ACRA" shape, older extracts used other names, and
any of them may gain or lose columns without notice.
"""

from __future__ import annotations

FULL_COLUMNS: tuple[str, ...] = (
    "issuance_agency_id", "uen", "entity_name", "entity_type_description",
    "business_constitution_description", "company_type_description",
    "paf_constitution_description", "entity_status_description",
    "registration_incorporation_date", "uen_issue_date", "address_type", "block",
    "street_name", "level_no", "unit_no", "building_name", "postal_code",
    "other_address_line1", "other_address_line2", "account_due_date",
    "annual_return_date", "no_of_charges", "primary_ssic_code",
    "primary_ssic_description", "primary_user_described_activity",
    "secondary_ssic_code", "secondary_ssic_description",
    "secondary_user_described_activity", "no_of_officers",
    *(f"former_entity_name{i}" for i in range(1, 16)),
    *(
        f"paid_up_capital{i}_{part}"
        for i in range(1, 11)
        for part in ("currency", "ordinary", "preference", "others")
    ),
    *(col for i in range(1, 6) for col in (f"uen_of_audit_firm{i}", f"name_of_audit_firm{i}")),
)
assert len(FULL_COLUMNS) == 94

# "Entities Registered with ACRA" (data.gov.sg d_3f960c10fed6145404ca7b821f263b87, the one
# most users download) names its columns `*_desc`; an older narrow extract used other names.
# Both map onto the full shape's columns.
SHAPE_ALIASES: dict[str, str] = {
    "issuance_agency_desc": "issuance_agency_id",
    "uen_status_desc": "entity_status_description",
    "entity_type_desc": "entity_type_description",
    "uen_status": "entity_status_description",
    "entity_type": "entity_type_description",
    "reg_street_name": "street_name",
    "reg_postal_code": "postal_code",
}
REGISTERED_COLUMNS: tuple[str, ...] = (
    "uen", "issuance_agency_desc", "uen_status_desc", "entity_name", "entity_type_desc",
    "uen_issue_date", "reg_street_name", "reg_postal_code",
)
NARROW_COLUMNS: tuple[str, ...] = (
    "uen", "issuance_agency_id", "uen_status", "entity_name", "entity_type",
    "uen_issue_date", "reg_street_name", "reg_postal_code",
)
SHAPES: dict[str, tuple[str, ...]] = {
    "full": FULL_COLUMNS, "registered": REGISTERED_COLUMNS, "narrow": NARROW_COLUMNS,
}

REQUIRED_COLUMNS: tuple[str, ...] = ("uen", "entity_name")
# Without it every row counts as live, so the runners would enrich dissolved entities.
STATUS_COLUMN = "entity_status_description"

DATE_COLUMNS: tuple[str, ...] = (
    "registration_incorporation_date", "uen_issue_date", "account_due_date", "annual_return_date",
)

# Values the publisher uses for "no value".
ABSENT_VALUES: frozenset[str] = frozenset({"", "na", "n/a", "-"})


def canonical_name(header: str) -> str:
    """Map one header cell to our column name ('' when it has no name)."""
    name = header.strip().strip("\ufeff").strip().lower().replace(" ", "_")
    return SHAPE_ALIASES.get(name, name)
