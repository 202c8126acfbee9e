"""Named SQL queries kept in .sql files beside the code that runs them.

A file holds blocks that start with a `-- name: <query_name>` line; the text up to the
next such line is the query. Keeping SQL in files keeps it readable and reviewable as SQL.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Params
from psycopg.rows import TupleRow

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@lru_cache(maxsize=None)
def load_queries(package: str, filename: str) -> dict[str, str]:
    text = (resources.files(package) / filename).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise ValueError(f"{package}/{filename}: query {name!r} defined twice")
        queries[name] = body.strip()
    return queries


def query(package: str, filename: str, name: str) -> str:
    try:
        return load_queries(package, filename)[name]
    except KeyError:
        raise KeyError(f"{package}/{filename} has no query named {name!r}") from None


def fetch_one(conn: psycopg.Connection[TupleRow], query: str | sql.SQL | sql.Composed,
              params: Params | None = None) -> tuple[Any, ...]:
    """The single row an aggregate, RETURNING or otherwise always-one-row query yields."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        # Only a broken query gets here: name it rather than fail later on indexing None.
        raise RuntimeError(f"query returned no row: {' '.join(str(query).split())[:120]}")
    return row
