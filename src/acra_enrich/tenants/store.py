"""Tenants, their Odoo connection (the API key stays in an environment variable) and their ICP."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from acra_enrich.config import Settings
from acra_enrich.db import tenant_context
from acra_enrich.errors import ConfigError
from acra_enrich.registry.ssic_store import ensure_bundled_ssic
from acra_enrich.sqlfiles import fetch_one, load_queries
from acra_enrich.tenants.icp import Icp, IcpFileError, parse_icp

_Q = load_queries("acra_enrich.tenants.sql", "tenants.sql")
ICP_RULE_NAME = "default"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Tenant:
    tenant_id: int
    name: str
    status: str


@dataclass(frozen=True)
class OdooConnection:
    base_url: str
    db_name: str
    username: str
    api_key_env: str

    def api_key(self) -> SecretStr:
        """The key from the variable the connection names (environment, else ./.env)."""
        value = os.environ.get(self.api_key_env)
        if value is None and Path(".env").is_file():
            from dotenv import dotenv_values

            value = dotenv_values(".env").get(self.api_key_env)
        if not value:
            raise ConfigError(f"{self.api_key_env}: not set; it must hold the Odoo API key of "
                              f"{self.username} on {self.base_url} (database {self.db_name})")
        return SecretStr(value)

    def key_is_set(self) -> bool:
        try:
            self.api_key()
        except ConfigError:
            return False
        return True


class UnknownTenant(ConfigError):
    pass


def resolve_tenant(conn: psycopg.Connection, ref: str | int) -> Tenant:
    """A tenant by id or by name (case-insensitive); UnknownTenant (exit 2) otherwise."""
    text = str(ref).strip()
    row = conn.execute(_Q["tenant_by_id"], {"tenant_id": int(text)}).fetchone() if text.isdigit() else None
    row = row or conn.execute(_Q["tenant_by_name"], {"name": text}).fetchone()
    if row is None:
        raise UnknownTenant(f"tenant {text!r}: no tenant with that id or name (see `acra-enrich tenants list`)")
    return Tenant(*row)


def check_odoo_fields(url: str, db_name: str, username: str, key_env: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--odoo-url {url!r}: expected an http:// or https:// URL")
    if not db_name.strip():
        raise ConfigError("--odoo-db: the Odoo database name is empty")
    if not username.strip():
        raise ConfigError("--odoo-user: the Odoo login is empty")
    if not _ENV_NAME.match(key_env):
        raise ConfigError(f"--odoo-key-env {key_env!r}: expected the name of an environment variable "
                          "(letters, digits, underscores), not the key itself")


def add_tenant(conn: psycopg.Connection, name: str, odoo: OdooConnection | None = None) -> int:
    name = " ".join(name.split())
    if not name:
        raise ConfigError("NAME: a tenant needs a name")
    if odoo is not None:
        check_odoo_fields(odoo.base_url, odoo.db_name, odoo.username, odoo.api_key_env)
    with conn.transaction():
        conn.execute(_Q["lock_tenants"])
        if conn.execute(_Q["tenant_by_name"], {"name": name}).fetchone() is not None:
            raise ConfigError(f"NAME: a tenant named {name!r} already exists")
        tenant_id = int(fetch_one(conn, _Q["add_tenant"], {"name": name})[0])
    if odoo is not None:
        set_odoo_connection(conn, tenant_id, odoo)
    return tenant_id


def set_odoo_connection(conn: psycopg.Connection, tenant_id: int, odoo: OdooConnection) -> None:
    check_odoo_fields(odoo.base_url, odoo.db_name, odoo.username, odoo.api_key_env)
    with tenant_context(conn, tenant_id):
        conn.execute(_Q["upsert_odoo_connection"], {
            "tenant_id": tenant_id, "base_url": odoo.base_url.rstrip("/"), "db_name": odoo.db_name.strip(),
            "username": odoo.username.strip(), "api_key_env": odoo.api_key_env})


def odoo_connection(conn: psycopg.Connection) -> OdooConnection | None:
    """The active Odoo connection of the tenant the connection acts for (tenant context or pinned)."""
    row = conn.execute(_Q["odoo_connection"], {"tenant_id": _current_tenant(conn)}).fetchone()
    return OdooConnection(*row) if row else None


def _current_tenant(conn: psycopg.Connection) -> int:
    value = fetch_one(conn, "SELECT current_setting('request.tenant_id', true)")[0]
    if not value:
        raise RuntimeError("not in a tenant context")
    return int(value)


def set_status(conn: psycopg.Connection, tenant_id: int, status: str) -> str:
    with conn.transaction():
        row = conn.execute(_Q["set_tenant_status"], {"tenant_id": tenant_id, "status": status}).fetchone()
    if row is None:
        raise UnknownTenant(f"tenant {tenant_id}: no such tenant")
    return str(row[0])


def list_tenants(conn: psycopg.Connection, settings: Settings) -> list[dict[str, Any]]:
    scheduled = {t.tenant_id for t in active_tenants(conn, settings)}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_Q["list_tenants"]).fetchall()
    for row in rows:
        env = row["odoo_key_env"]
        row["odoo_key_set"] = bool(env) and OdooConnection("", "", "", env).key_is_set()
        row["scheduled"] = row["tenant_id"] in scheduled
    return rows


def _refs(value: str | None) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def active_tenants(conn: psycopg.Connection, settings: Settings) -> list[Tenant]:
    """Active tenants with an active Odoo connection, filtered by SCHED_TENANT_INCLUDE/EXCLUDE
    (ids or names)."""
    include, exclude = _refs(settings.sched_tenant_include), _refs(settings.sched_tenant_exclude)
    chosen = []
    for tenant_id, name in conn.execute(_Q["active_tenants"]).fetchall():
        keys = {str(tenant_id), name.lower()}
        if include and not keys & include:
            continue
        if keys & exclude:
            continue
        chosen.append(Tenant(tenant_id, name, "active"))
    return chosen


def set_icp(conn: psycopg.Connection, tenant_id: int, icp: Icp) -> None:
    """Store the tenant's ICP after checking its SSIC codes against the SSIC reference."""
    ensure_bundled_ssic(conn)
    digits = [c for c in icp.ssic_codes if c.isdigit()]
    unknown = [r[0] for r in conn.execute(_Q["unknown_ssic_prefixes"], {"prefixes": digits})] if digits else []
    if unknown:
        raise IcpFileError(f"ssic_codes: no SSIC 2020 code starts with {', '.join(map(repr, unknown))}")
    with tenant_context(conn, tenant_id):
        conn.execute(_Q["upsert_icp"], {"tenant_id": tenant_id, "name": ICP_RULE_NAME,
                                        "payload": Jsonb(icp.model_dump(exclude_none=True))})


def get_icp(conn: psycopg.Connection, tenant_id: int) -> Icp | None:
    """The tenant's ICP, read in its tenant context; None when it has none."""
    with tenant_context(conn, tenant_id):
        row = conn.execute(_Q["get_icp"], {"tenant_id": tenant_id, "name": ICP_RULE_NAME}).fetchone()
    return parse_icp(row[0], f"tenant {tenant_id}'s stored ICP") if row else None


def current_icp(conn: psycopg.Connection) -> Icp | None:
    """The ICP of the tenant a pinned connection acts for."""
    row = conn.execute(_Q["get_icp"], {"tenant_id": _current_tenant(conn), "name": ICP_RULE_NAME}).fetchone()
    return parse_icp(row[0], "the tenant's stored ICP") if row else None
