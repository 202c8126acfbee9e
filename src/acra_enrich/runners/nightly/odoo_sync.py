"""Step 7: a run's High and Medium companies into the tenant's Odoo, never twice.

For each company: its partner (`res.partner`, is_company, UEN in `company_registry`, website,
phone, email, address, Singapore), up to three primary contacts as child partners, and a
`crm.lead` when its score reaches SCORE_MIN_EXPORT. Odoo ids are kept per tenant in
`odoo_records` and saved the moment Odoo returns them. Before creating anything the sync
looks for what may already be there (the id it kept, else the partner with the same UEN, the
child with the same email or name, the lead it made for that partner, archived ones
included), so a re-run, or a run resumed after a crash between a create and its bookkeeping,
creates no duplicate. A partner is updated field by field: a field is written only where it
still holds what the sync last wrote (or is empty), so a value an Odoo user edited stays theirs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from acra_enrich.scoring.features import DECISION_MAKER
from acra_enrich.sqlfiles import load_queries
from acra_enrich.vendors import OdooAnswer, OdooClient

_Q = load_queries("acra_enrich.runners.nightly.sql", "nightly.sql")
LEAD_MARK = "acra-enrich"  # crm.lead `referred`: how the sync finds the lead it made for a partner
PARTNER_FIELDS = ("name", "is_company", "company_registry", "website", "phone", "email", "street", "zip", "city",
                  "country_id")
ALL = {"context": {"active_test": False}}


class SyncFailed(Exception):
    def __init__(self, answer: OdooAnswer, what: str) -> None:
        super().__init__(f"{what}: {answer.detail}")
        self.kind = answer.kind


@dataclass
class CompanySync:
    partner: str = ""  # created | updated | unchanged
    kept_user_edits: list[str] = field(default_factory=list)
    contacts_created: int = 0
    lead: str = ""  # created | exists | below_threshold


def _m2o(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


class OdooSync:
    def __init__(self, client: OdooClient, pool: ConnectionPool, tenant_id: int, min_export: float) -> None:
        self.odoo = client
        self.pool = pool
        self.tenant_id = tenant_id
        self.min_export = min_export
        self.country_id: int | None = None

    @staticmethod
    def _ok(answer: OdooAnswer, what: str) -> Any:
        if not answer.ok:
            raise SyncFailed(answer, what)
        return answer.result

    async def prepare(self) -> None:
        """Log in and find Singapore's country id; SyncFailed when Odoo cannot be used at all."""
        self._ok(await self.odoo.login(), "login")
        found = self._ok(await self.odoo.execute_kw("res.country", "search", [[["code", "=", "SG"]]],
                                                          {"limit": 1}), "res.country search")
        self.country_id = found[0] if found else None

    def _record(self, company_id: int) -> dict[str, Any]:
        with self.pool.connection() as conn:
            row = conn.execute(_Q["odoo_record"], {"company_id": company_id}).fetchone()
        if row is None:
            return {"partner_id": None, "lead_id": None, "contacts": {}, "pushed": {}}
        return {"partner_id": row[0], "lead_id": row[1], "contacts": dict(row[2]), "pushed": dict(row[3])}

    def _save(self, company_id: int, record: dict[str, Any], error: str | None = None) -> None:
        with self.pool.connection() as conn:
            conn.execute(_Q["save_odoo_record"], {
                "tenant_id": self.tenant_id, "company_id": company_id, "partner_id": record["partner_id"],
                "lead_id": record["lead_id"], "contacts": Jsonb(record["contacts"]), "pushed": Jsonb(record["pushed"]),
                "error": error})
            conn.commit()

    async def _save_async(self, company_id: int, record: dict[str, Any], error: str | None = None) -> None:
        await asyncio.to_thread(self._save, company_id, record, error)

    def partner_values(self, row: dict[str, Any]) -> dict[str, Any]:
        values = {
            "name": row["name"], "is_company": True, "company_registry": row["uen"],
            "website": f"https://{row['website_domain']}" if row["website_domain"] else None,
            "phone": row["phone"], "email": row["email"], "street": row["hq_address"], "zip": row["hq_postal_code"],
            "city": row["hq_city"] or "Singapore", "country_id": self.country_id,
        }
        return {k: v for k, v in values.items() if v not in (None, "")}

    async def sync(self, row: dict[str, Any]) -> CompanySync:
        """One company; SyncFailed (kept in odoo_records.last_error by the caller) on an Odoo error."""
        company_id = row["company_id"]
        record = await asyncio.to_thread(self._record, company_id)
        outcome = CompanySync()
        partner_id = await self._partner(row, record, outcome)
        contacts = await asyncio.to_thread(self._contacts, company_id)
        for contact in contacts:
            outcome.contacts_created += await self._contact(company_id, partner_id, contact, record)
        if row["score"] >= self.min_export:
            outcome.lead = await self._lead(row, partner_id, record)
        else:
            outcome.lead = "below_threshold"
        await self._save_async(company_id, record)
        return outcome

    async def _partner(self, row: dict[str, Any], record: dict[str, Any], outcome: CompanySync) -> int:
        values = self.partner_values(row)
        current = None
        if record["partner_id"]:
            found = self._ok(await self.odoo.execute_kw(
                "res.partner", "search_read", [[["id", "=", record["partner_id"]]]],
                {"fields": list(PARTNER_FIELDS), **ALL}), "res.partner read")
            current = found[0] if found else None  # deleted in Odoo: look for it by UEN, else create
        if current is None:
            found = self._ok(await self.odoo.execute_kw(
                "res.partner", "search_read", [[["company_registry", "=", row["uen"]], ["is_company", "=", True]]],
                {"fields": list(PARTNER_FIELDS), "limit": 1, **ALL}), "res.partner search")
            current = found[0] if found else None
        if current is None:
            record["partner_id"] = self._ok(await self.odoo.execute_kw("res.partner", "create", [values]),
                                                  "res.partner create")
            record["pushed"] = dict(values)
            await self._save_async(row["company_id"], record)
            outcome.partner = "created"
            return int(record["partner_id"])
        record["partner_id"] = current["id"]
        changes = {}
        for name, value in values.items():
            there = _m2o(current.get(name))
            if there == value:
                continue
            if there in (False, None, "") or there == record["pushed"].get(name):
                changes[name] = value
            else:
                outcome.kept_user_edits.append(name)  # an Odoo user changed it since: theirs now
        if changes:
            self._ok(await self.odoo.execute_kw("res.partner", "write", [[current["id"]], changes]),
                           "res.partner write")
        record["pushed"] = {**record["pushed"], **changes}
        outcome.partner = "updated" if changes else "unchanged"
        return int(current["id"])

    def _contacts(self, company_id: int) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            rows = conn.execute(_Q["primary_contacts"], {"company_id": company_id,
                                                          "decision_maker": DECISION_MAKER.pattern}).fetchall()
        return [dict(zip(("key", "name", "title", "email", "phone"), r)) for r in rows]

    async def _contact(self, company_id: int, partner_id: int, contact: dict[str, Any],
                       record: dict[str, Any]) -> int:
        known = record["contacts"].get(contact["key"])
        if known:
            found = self._ok(await self.odoo.execute_kw(
                "res.partner", "search", [[["id", "=", known]]], ALL), "contact read")
            if found:
                return 0
        match = ["email", "=ilike", contact["email"]] if contact["email"] else ["name", "=", contact["name"]]
        found = self._ok(await self.odoo.execute_kw(
            "res.partner", "search", [[["parent_id", "=", partner_id], match]], {"limit": 1, **ALL}), "contact search")
        if found:
            record["contacts"][contact["key"]] = found[0]
            return 0
        values = {"name": contact["name"], "parent_id": partner_id, "type": "contact", "function": contact["title"],
                  "email": contact["email"], "phone": contact["phone"]}
        created = self._ok(await self.odoo.execute_kw(
            "res.partner", "create", [{k: v for k, v in values.items() if v}]), "contact create")
        record["contacts"][contact["key"]] = created
        await self._save_async(company_id, record)
        return 1

    async def _lead(self, row: dict[str, Any], partner_id: int, record: dict[str, Any]) -> str:
        if record["lead_id"]:
            found = self._ok(await self.odoo.execute_kw(
                "crm.lead", "search", [[["id", "=", record["lead_id"]]]], ALL), "crm.lead read")
            if found:
                return "exists"
        found = self._ok(await self.odoo.execute_kw(
            "crm.lead", "search", [[["partner_id", "=", partner_id], ["referred", "=", LEAD_MARK]]],
            {"limit": 1, **ALL}), "crm.lead search")
        if found:
            record["lead_id"] = found[0]
            return "exists"
        values = {"name": row["name"], "partner_id": partner_id, "type": "lead", "referred": LEAD_MARK,
                  "description": f"{row['rationale']} (acra-enrich score {row['score']:.2f}, {row['bucket']})",
                  "website": f"https://{row['website_domain']}" if row["website_domain"] else None,
                  "email_from": row["email"], "phone": row["phone"]}
        record["lead_id"] = self._ok(await self.odoo.execute_kw(
            "crm.lead", "create", [{k: v for k, v in values.items() if v}]), "crm.lead create")
        await self._save_async(row["company_id"], record)
        return "created"

    async def record_error(self, company_id: int, error: str) -> None:
        record = await asyncio.to_thread(self._record, company_id)
        await self._save_async(company_id, record, error)
