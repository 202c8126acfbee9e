"""The embedded PostgreSQL (pgserver) used when POSTGRES_DSN is unset.

The server lives under ACRA_ENRICH_HOME/pgdata, is started on first use and left running
so that the next command connects at once; `acra-enrich db stop` shuts it down cleanly.
Start-up and first-time database creation happen under a lock on the data dir, so two
commands started at the same moment neither run initdb twice nor race to create the
database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Iterator

import psycopg
from psycopg import sql

from acra_enrich.errors import DatabaseUnavailable

DATABASE_NAME = "acra_enrich"


@contextmanager
def _data_dir_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "pgdata.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pgserver() -> ModuleType:
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR
        # (CI, containers) platformdirs warns and falls back to /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pgserver  # heavy import, only when the embedded server is used
        import pgserver._commands
    # Its start/stop messages go to our log file (when configured), never to the console
    # through logging's last-resort handler.
    logging.getLogger("pgserver").addHandler(logging.NullHandler())
    return pgserver


def embedded_dsn(home: Path) -> str:
    """Start (or reuse) the embedded server and return a DSN for the product's database."""
    pgserver = _pgserver()
    with _data_dir_lock(home):
        try:
            # cleanup_mode=None: keep the server running after this process exits.
            server = pgserver.get_server(home / "pgdata", cleanup_mode=None)
        except Exception as exc:  # pgserver raises bare subprocess/assertion errors
            raise DatabaseUnavailable(
                f"could not start the embedded PostgreSQL under {home / 'pgdata'}: {exc} "
                f"(server log: {home / 'pgdata' / 'log'})"
            ) from exc
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
    return str(server.get_uri(DATABASE_NAME))


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server if it runs; True when a server was stopped."""
    pgdata = home / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return False
    pg_ctl = _pgserver()._commands.pg_ctl  # the bundled pg_ctl
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs the server as this user under root
    with _data_dir_lock(home):
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    return True
