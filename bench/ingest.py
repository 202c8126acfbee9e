"""Ingest benchmark: `acra-enrich ingest acra` against a raw COPY of the same file, same run.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--seed 1] [--changed-every 50] [--repeat 3]

Measures, in one fresh database:
- raw COPY: the file copied as it is into an index-free table of 94 text columns (the baseline);
- first load into an empty staging table (target >= 0.5 x COPY rows/s, peak RSS < 300 MB),
  `--repeat` times, staging emptied in between;
- the same file loaded again, nothing changed (target >= 1.0 x COPY rows/s);
- a monthly refresh: the file with one line in `--changed-every` edited (1 in 50 = 2%);
- `sync companies` after the first load (every row) and after the refresh (the changed rows
  only, the rest skipped).
Ratios are given on the load's own time (the `seconds` of its report: file in, commit done) and
on the command's wall time (which adds Python start-up, about a second). Loads and raw COPYs
alternate `--repeat` times and medians are compared, as other work on a shared machine comes
and goes. Uses POSTGRES_DSN when
set, else the embedded server under bench/out/home; always in a fresh database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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


def empty_staging(dsn: str) -> None:
    """Staging as a fresh database has it, so the first load can be timed again."""
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE staging_acra_companies, staging_acra_rejects")
        conn.execute("DELETE FROM registry_loads")


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


def monthly_refresh(source: Path, target: Path, every: int) -> int:
    """`source` with the last field of one data line in `every` changed; the lines changed."""
    changed = 0
    with open(source, "rb") as src, open(target, "wb") as out:
        out.write(src.readline())
        for number, line in enumerate(src):
            body = line.rstrip(b"\r\n")
            if number % every == every - 1 and not body.endswith(b'"'):
                line = body + b"X\n"  # the last column (name_of_audit_firm5) gains a character
                changed += 1
            out.write(line)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed-every", type=int, default=50, help="one line in N changes in the monthly file")
    parser.add_argument("--repeat", type=int, default=3, help="re-loads of each kind, alternating with raw COPYs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acra_bench.csv"
        started = time.perf_counter()
        with open(path, "wb") as handle:
            write_acra_csv(handle, rows=args.rows, seed=args.seed)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:,.0f} MB) in {time.perf_counter() - started:.1f}s")
        refresh = Path(tmp) / "acra_bench_next_month.csv"
        changed = monthly_refresh(path, refresh, args.changed_every)

        dsn = fresh_database(BENCH_DB)
        copies, firsts = [], []
        for turn in range(args.repeat):
            if turn:
                empty_staging(dsn)
            copies.append(raw_copy(dsn, path))
            first = run_cli(dsn, "ingest", "acra", str(path))
            assert first[1]["inserted"] == args.rows, first[1]
            firsts.append(first)
        full_sync = run_cli(dsn, "sync", "companies")
        assert full_sync[1]["inserted"] == args.rows, full_sync[1]
        # The machine is shared: COPY and the re-loads alternate, and medians are compared.
        sames, monthlies = [], []
        for turn in range(args.repeat):
            copies.append(raw_copy(dsn, path))
            same = run_cli(dsn, "ingest", "acra", str(path))
            assert (same[1]["unchanged"], same[1]["parsed"]) == (args.rows, 0), same[1]
            sames.append(same)
        for turn in range(args.repeat):
            copies.append(raw_copy(dsn, path))
            monthly = run_cli(dsn, "ingest", "acra", str(refresh if turn % 2 == 0 else path))
            assert (monthly[1]["updated"], monthly[1]["parsed"]) == (changed, changed), monthly[1]
            monthlies.append(monthly)
            if turn == 0:
                monthly_sync = run_cli(dsn, "sync", "companies")
                assert (monthly_sync[1]["seen"], monthly_sync[1]["skipped"]) == (changed, args.rows - changed), \
                    monthly_sync[1]

    copy_s = statistics.median(copies)
    print(f"raw COPY               : {args.rows / copy_s:>10,.0f} rows/s  ({copy_s:.1f}s; median of {len(copies)}: "
          f"{', '.join(f'{c:.1f}' for c in copies)})")

    def load_line(label: str, runs: list[tuple[float, dict[str, object], int]], target: str) -> None:
        load_s = statistics.median(float(r[1]["seconds"]) for r in runs)  # type: ignore[arg-type]
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[2] for r in runs)
        print(f"{label:<23}: {args.rows / load_s:>10,.0f} rows/s  ({load_s:.1f}s in the load, {wall:.1f}s wall)  "
              f"ratio {copy_s / load_s:.2f} x COPY ({copy_s / wall:.2f} on wall time; target {target})  "
              f"peak RSS {rss} MB")

    load_line("first load", firsts, ">= 0.5")
    load_line("unchanged re-load", sames, ">= 1.0")
    load_line(f"monthly ({changed:,} changed)", monthlies, ">= 1.0")
    print("peak RSS target        : < 300 MB")
    for label, (wall, report, _) in (("sync after first load", full_sync), ("sync after monthly", monthly_sync)):
        seconds = float(report["seconds"])  # type: ignore[arg-type]
        print(f"{label:<23}: seen {report['seen']:,} (inserted {report['inserted']:,}, updated {report['updated']:,}), "
              f"skipped {report['skipped']:,} in {seconds:.1f}s ({wall:.1f}s wall)"
              + (f", {int(report['seen']) / seconds:,.0f} rows/s" if seconds and report["seen"] else ""))  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
