"""Ingest benchmark: `acra-enrich ingest acra` against a raw COPY of the same file, same run.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--seed 1]

Prints rows/s of both, their ratio (target >= 0.5), the ingest's peak RSS (target < 300 MB),
the time of a second, unchanged load, and `sync companies` rows/s. Uses POSTGRES_DSN when
set, else the embedded server under bench/out/home; always in a fresh database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from acra_enrich.registry.acra_columns import FULL_COLUMNS
from acra_enrich.registry.sample import write_acra_csv
from benchdb import fresh_database

HERE = Path(__file__).resolve().parent
BENCH_DB = "acra_enrich_bench"




def raw_copy(dsn: str, path: Path) -> float:
    """Seconds for a bare COPY of the file into an index-free table of 94 text columns."""
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in FULL_COLUMNS)
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("CREATE TABLE bench_raw_copy ({})").format(columns))
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy("COPY bench_raw_copy FROM STDIN (FORMAT csv, HEADER true)") as copy, open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_copy")
        conn.commit()
    return elapsed


def run_cli(dsn: str, *args: str) -> tuple[float, dict[str, object], int]:
    """(wall seconds, the command's --json report, peak RSS in MB of that child)."""
    env = {**os.environ, "POSTGRES_DSN": dsn}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "acra_enrich", *args, "--json"], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"acra-enrich {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: only meaningful when it grew.
    rss_mb = max(after, before) / 1024
    return elapsed, json.loads(done.stdout.strip().splitlines()[-1]), int(rss_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acra_bench.csv"
        started = time.perf_counter()
        with open(path, "wb") as handle:
            write_acra_csv(handle, rows=args.rows, seed=args.seed)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:,.0f} MB) in {time.perf_counter() - started:.1f}s")

        dsn = fresh_database(BENCH_DB)
        copy_s = raw_copy(dsn, path)
        ingest_s, report, rss_mb = run_cli(dsn, "ingest", "acra", str(path))
        assert report["inserted"] == args.rows, report
        reload_s, reload_report, _ = run_cli(dsn, "ingest", "acra", str(path))
        assert reload_report["unchanged"] == args.rows, reload_report
        sync_s, sync_report, _ = run_cli(dsn, "sync", "companies")

    copy_rate = args.rows / copy_s
    ingest_rate = args.rows / ingest_s
    print(f"raw COPY          : {copy_rate:>10,.0f} rows/s  ({copy_s:.1f}s)")
    print(f"ingest acra       : {ingest_rate:>10,.0f} rows/s  ({ingest_s:.1f}s wall, {report['seconds']}s in load)")
    print(f"ratio ingest/COPY : {ingest_rate / copy_rate:.2f}   (target >= 0.50)")
    print(f"ingest peak RSS   : {rss_mb} MB   (target < 300 MB)")
    print(f"unchanged reload  : {reload_s:.1f}s  ({args.rows / reload_s:,.0f} rows/s; 0 inserted, 0 updated)")
    print(f"sync companies    : {sync_report['seen'] / sync_s:>10,.0f} rows/s  ({sync_s:.1f}s, inserted {sync_report['inserted']:,})")


if __name__ == "__main__":
    main()
