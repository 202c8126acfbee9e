"""What every command module shares: consoles, and errors mapped to exit codes."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg
import typer
from rich.console import Console

from acra_enrich.config import get_settings
from acra_enrich.errors import AcraEnrichError

out = Console(soft_wrap=True)  # never re-wrap lines a user may grep or parse
err = Console(stderr=True, soft_wrap=True)


def fail(exc: AcraEnrichError) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


@contextmanager
def errors() -> Iterator[None]:
    try:
        yield
    except AcraEnrichError as exc:
        fail(exc)


@contextmanager
def database() -> Iterator[psycopg.Connection]:
    """A connection to a database whose schema is current (upgraded on first use).

    Errors raised in the caller's block are mapped to exit codes too."""
    from acra_enrich.db import connect, database_dsn, ensure_schema

    with errors():
        settings = get_settings()
        ensure_schema(database_dsn(settings), timeout_s=settings.db_connect_timeout_s)
        with connect(settings) as conn:
            yield conn
