"""`acra-enrich tenants add|list|disable|odoo` and `acra-enrich icp set|show`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import psycopg
import typer
from rich.table import Table

from acra_enrich.cli_support import database, err, out
from acra_enrich.config import get_settings
from acra_enrich.errors import ConfigError
from acra_enrich.tenants.icp import load_icp_file
from acra_enrich.tenants.store import (
    OdooConnection,
    add_tenant,
    get_icp,
    list_tenants,
    resolve_tenant,
    set_icp,
    set_odoo_connection,
    set_status,
)

tenants_app = typer.Typer(help="Tenants (sales teams): their Odoo connection and status.", no_args_is_help=True)
icp_app = typer.Typer(help="A tenant's ideal customer profile (ICP).", no_args_is_help=True)

_ODOO_HELP = "Odoo connection: give all four of --odoo-url, --odoo-db, --odoo-user, --odoo-key-env"


@contextmanager
def admin() -> Iterator[psycopg.Connection]:
    # Autocommit: each tenant_context below is then a transaction of its own, never a savepoint
    # whose SET LOCAL ROLE would outlive it.
    with database() as conn:
        conn.autocommit = True
        yield conn


def _odoo(url: str | None, db: str | None, user: str | None, key_env: str | None) -> OdooConnection | None:
    given = {"--odoo-url": url, "--odoo-db": db, "--odoo-user": user, "--odoo-key-env": key_env}
    if not any(given.values()):
        return None
    missing = [flag for flag, value in given.items() if not value]
    if missing:
        raise ConfigError(f"{_ODOO_HELP}; missing {', '.join(missing)}")
    assert url and db and user and key_env
    return OdooConnection(url, db, user, key_env)


def _warn_unset(odoo: OdooConnection | None) -> None:
    if odoo is not None and not odoo.key_is_set():
        err.print(f"[yellow]note:[/] {odoo.api_key_env} is not set here; set it (to the Odoo API key) wherever "
                  "nightly runs, or syncing to Odoo fails", highlight=False)


@tenants_app.command("add")
def tenants_add(
    name: str = typer.Argument(..., help="the tenant's name (unique)"),
    odoo_url: Optional[str] = typer.Option(None, "--odoo-url", help="Odoo base URL, e.g. https://acme.odoo.com"),
    odoo_db: Optional[str] = typer.Option(None, "--odoo-db", help="Odoo database name"),
    odoo_user: Optional[str] = typer.Option(None, "--odoo-user", help="Odoo login of the API user"),
    odoo_key_env: Optional[str] = typer.Option(None, "--odoo-key-env", metavar="VAR",
                                               help="name of the environment variable holding that user's "
                                               "API key (the key itself is never stored)"),
) -> None:
    """Create a tenant, optionally with its Odoo connection; prints its id."""
    with admin() as conn:
        odoo = _odoo(odoo_url, odoo_db, odoo_user, odoo_key_env)
        tenant_id = add_tenant(conn, name, odoo)
    out.print(f"tenant {tenant_id} ({name}) added" + ("" if odoo else "; no Odoo connection yet "
                                                       "(`acra-enrich tenants odoo`)"), highlight=False)
    _warn_unset(odoo)


@tenants_app.command("odoo")
def tenants_odoo(
    tenant: str = typer.Argument(..., help="tenant id or name"),
    odoo_url: str = typer.Option(..., "--odoo-url", help="Odoo base URL"),
    odoo_db: str = typer.Option(..., "--odoo-db", help="Odoo database name"),
    odoo_user: str = typer.Option(..., "--odoo-user", help="Odoo login of the API user"),
    odoo_key_env: str = typer.Option(..., "--odoo-key-env", metavar="VAR",
                                     help="environment variable holding the API key"),
) -> None:
    """Set or replace a tenant's Odoo connection."""
    with admin() as conn:
        found = resolve_tenant(conn, tenant)
        odoo = OdooConnection(odoo_url, odoo_db, odoo_user, odoo_key_env)
        set_odoo_connection(conn, found.tenant_id, odoo)
    out.print(f"tenant {found.tenant_id} ({found.name}): Odoo {odoo_url} database {odoo_db} as {odoo_user}, "
              f"key from {odoo_key_env}", highlight=False)
    _warn_unset(odoo)


@tenants_app.command("list")
def tenants_list(as_json: bool = typer.Option(False, "--json", help="print the tenants as JSON")) -> None:
    """Every tenant: status, Odoo connection (and whether its key variable is set here), ICP, and
    whether the scheduler runs it (active, Odoo connected, SCHED_TENANT_INCLUDE/EXCLUDE)."""
    with admin() as conn:
        rows = list_tenants(conn, get_settings())
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    table = Table("id", "name", "status", "odoo", "key variable", "icp", "scheduled", box=None)
    for r in rows:
        odoo = f"{r['odoo_url']} db {r['odoo_db']} as {r['odoo_user']}" if r["odoo_url"] else "-"
        key = f"{r['odoo_key_env']} ({'set' if r['odoo_key_set'] else 'NOT SET here'})" if r["odoo_key_env"] else "-"
        icp = f"{r['icp_updated_at']:%Y-%m-%d %H:%M}" if r["icp_updated_at"] else "none"
        table.add_row(str(r["tenant_id"]), r["name"], r["status"], odoo, key, icp, "yes" if r["scheduled"] else "no")
    out.print(table)


@tenants_app.command("disable")
def tenants_disable(tenant: str = typer.Argument(..., help="tenant id or name")) -> None:
    """Disable a tenant: the scheduler no longer runs it; its data stays."""
    with admin() as conn:
        found = resolve_tenant(conn, tenant)
        set_status(conn, found.tenant_id, "disabled")
    out.print(f"tenant {found.tenant_id} ({found.name}) disabled", highlight=False)


@tenants_app.command("enable")
def tenants_enable(tenant: str = typer.Argument(..., help="tenant id or name")) -> None:
    """Make a disabled tenant active again."""
    with admin() as conn:
        found = resolve_tenant(conn, tenant)
        set_status(conn, found.tenant_id, "active")
    out.print(f"tenant {found.tenant_id} ({found.name}) active", highlight=False)


@icp_app.command("set")
def icp_set(
    tenant: str = typer.Argument(..., help="tenant id or name"),
    file: Path = typer.Option(..., "--file", "-f", help="the ICP as .yaml/.yml or .json"),
) -> None:
    """Set a tenant's ICP from a file; a bad file is refused with the field named.

    Fields: ssic_codes (section letters, division/group/class prefixes or codes), industry_words, employees {min, max}, incorporation_years {min, max}, statuses, postal_districts (1-28), keywords. At least one of ssic_codes / industry_words. The next nightly run rebuilds the tenant's candidates from it.
    """
    with admin() as conn:
        found = resolve_tenant(conn, tenant)
        icp = load_icp_file(file)
        set_icp(conn, found.tenant_id, icp)
    out.print(f"tenant {found.tenant_id} ({found.name}): ICP set from {file} "
              f"(criteria: {', '.join(icp.criteria())})", highlight=False)


@icp_app.command("show")
def icp_show(tenant: str = typer.Argument(..., help="tenant id or name"),
             as_json: bool = typer.Option(False, "--json", help="print the ICP as JSON")) -> None:
    """Print a tenant's ICP."""
    with admin() as conn:
        found = resolve_tenant(conn, tenant)
        icp = get_icp(conn, found.tenant_id)
    if icp is None:
        raise typer.Exit(_no_icp(found.tenant_id, found.name))
    data = icp.model_dump(exclude_none=True, exclude_defaults=True)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    import yaml

    out.print(f"# tenant {found.tenant_id} ({found.name})", highlight=False)
    out.print(yaml.safe_dump(data, sort_keys=False).rstrip(), highlight=False, markup=False)


def _no_icp(tenant_id: int, name: str) -> int:
    err.print(f"tenant {tenant_id} ({name}) has no ICP; set one with `acra-enrich icp set {tenant_id} --file icp.yaml`",
              highlight=False)
    return 1
