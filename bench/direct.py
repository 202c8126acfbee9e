"""Direct-runner selection benchmark: `acra-enrich run direct --dry-run` against a plain
server-side-cursor read of the same staging table, same run.

    .venv/bin/python bench/direct.py [--rows 200000] [--seed 1] [--recent 0.30] [--old 0.10]
                                     [--max-seconds 75] [--profile ROWS]

Loads ROWS generated ACRA rows into staging (as `acra-enrich ingest acra` does), syncs them
into companies, then gives a RECENT share of the companies a history row from yesterday (the
skip policy skips them) and an OLD share one from 90 days ago (past the default 30-day recheck
window: still eligible, but the anti-join must look at the date), spread over the id order.

Then, each in a subprocess of its own so that its own peak RSS can be read:
- the dry run: `python -m acra_enrich run direct --dry-run --json`. It selects through the
  product's paged server-side cursor and skip-policy anti-join, and logs one JSON line per
  eligible row to ACRA_ENRICH_HOME/logs and to stderr (a file here), as it does off a
  terminal; that logging is part of what is timed;
- the baseline: `SELECT id, uen, entity_name FROM staging_acra_companies ORDER BY id` read
  through one psycopg server-side cursor in a bare interpreter, each row touched in Python.
Both run over the whole table, then over its last quarter (`--start-after-id`, `WHERE id >`):
memory that stays flat over many rows gives an RSS ratio whole/quarter near 1.0.

A dry run still going after MAX_SECONDS gets SIGTERM, which it handles by stopping at the
row it is on and printing its summary: the figures then cover the rows up to its resume
marker (printed as "rows read"), and the line says "stopped at the time cap".

Prints rows/s of both (rows read per second of the command's own timed work: the sweep's
duration_s, the baseline's loop; wall time with interpreter start-up in brackets), their
ratio, the peak RSS of each, and the dry run's eligible and skipped counts against plain SQL
counts over the same rows. --profile ROWS re-runs the dry run over the last ROWS rows under
cProfile and prints where its time goes.

The server: POSTGRES_DSN when set, else the embedded one under bench/out/home; always a fresh
database of its own. The dry runs' ACRA_ENRICH_HOME (their logs) is a temporary directory.
The default of 200,000 rows keeps a run near 3 minutes on 2 cores; setting up 1,000,000 rows
alone takes about 2.5 minutes there (generating the file is most of it). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from acra_enrich.config import load_settings
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.runners.direct import DirectParams
from benchdb import fresh_database

HERE = Path(__file__).resolve().parent
BENCH_DB = "acra_enrich_bench_direct"

# Linux carries a parent's peak RSS over fork and exec into the child's ru_maxrss, so the
# commands are forked by a bare interpreter: the figure wait4 gives is then their own.
# Optional time cap: SIGTERM, the runner's graceful stop.
LAUNCHER = """
import os, signal, sys
rss_path, cap = sys.argv[1], float(sys.argv[2])
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[3], sys.argv[3:])
if cap > 0:
    signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGTERM))
    signal.setitimer(signal.ITIMER_REAL, cap)
_, status, usage = os.wait4(pid, 0)
with open(rss_path, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""

BASELINE = """
import json, sys, time
import psycopg
dsn, after = sys.argv[1], int(sys.argv[2])
started = time.perf_counter()
n = 0
with psycopg.connect(dsn) as conn, conn.cursor(name="bench_baseline") as cur:
    cur.execute("SELECT id, uen, entity_name FROM staging_acra_companies WHERE id > %s ORDER BY id", (after,))
    for row in cur:
        n += 1
print(json.dumps({"rows": n, "seconds": time.perf_counter() - started}))
"""

# company_id * 7919 mod 1000 permutes each block of 1,000 ids: exact shares, no long runs.
SEED_HISTORY = """
INSERT INTO company_enrichment_runs (company_id, status, updated_at, created_at)
SELECT company_id, 'ok', stamp, stamp
FROM (SELECT company_id,
             CASE WHEN company_id * 7919 %% 1000 < %(recent)s THEN now() - interval '1 day'
                  ELSE now() - interval '90 days' END AS stamp
      FROM companies
      WHERE company_id * 7919 %% 1000 < %(recent)s + %(old)s) picked
"""

# Written apart from runners/sql/direct.sql, as a check on the dry run's counts.
LIVE = """
FROM staging_acra_companies s
WHERE s.id > %(after)s AND s.id <= %(upto)s
  AND NOT coalesce(lower(btrim(s.entity_status_description)), '') LIKE ANY (%(excluded)s)
"""
LIVE_COUNT = "SELECT count(*) " + LIVE
SKIPPED_COUNT = "SELECT count(*) " + LIVE + """
  AND s.uen IN (SELECT c.uen FROM companies c JOIN company_enrichment_runs h USING (company_id)
                WHERE %(any_history)s OR h.updated_at > now() - make_interval(days => %(recheck_days)s))
"""
ROWS_IN_RANGE = "SELECT count(*) FROM staging_acra_companies WHERE id > %(after)s AND id <= %(upto)s"


@dataclass
class Child:
    wall_s: float
    rss_mb: float
    stdout: str


@dataclass
class Measure:
    base: Child
    base_rows: int
    base_s: float
    dry: Child
    summary: dict[str, Any]
    rows_read: int  # staging rows the dry run went over: (after, its marker]
    live: int
    skipped_sql: int
    log_mb: float
    stderr_mb: float

    @property
    def capped(self) -> bool:
        return self.summary["status"] == "interrupted"




def prepare(dsn: str, rows: int, seed: int, recent: float, old: float, tmp: Path) -> None:
    path = tmp / "acra_bench.csv"
    started = time.perf_counter()
    with open(path, "wb") as handle:
        write_acra_csv(handle, rows=rows, seed=seed)
    generated = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        load_acra_file(conn, path)
        loaded = time.perf_counter()
        synced = sync_companies(conn)
        conn.commit()
        history = conn.execute(SEED_HISTORY, {"recent": round(recent * 1000), "old": round(old * 1000)}).rowcount
        conn.commit()
    path.unlink()
    # Autovacuum analyzes tables soon after loads like these; the planner needs the statistics.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE staging_acra_companies, companies, company_enrichment_runs")
    print(f"setup: generated {rows:,} rows {generated - started:.0f}s, loaded {loaded - generated:.0f}s, "
          f"synced {synced.inserted:,} companies, {history:,} history rows, "
          f"total {time.perf_counter() - started:.0f}s")


def run_child(argv: list[str], env: dict[str, str], stderr_path: Path, cap_s: float = 0) -> Child:
    rss_path = stderr_path.with_suffix(".maxrss")
    started = time.perf_counter()
    with open(stderr_path, "wb") as err:
        done = subprocess.run([sys.executable, "-c", LAUNCHER, str(rss_path), str(cap_s), *argv], env=env,
                              stdout=subprocess.PIPE, stderr=err, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = stderr_path.read_bytes()[-3000:].decode(errors="replace")
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{tail}")
    return Child(wall, int(rss_path.read_text()) / 1024, done.stdout.decode())


def dry_run(env: dict[str, str], after: int, tmp: Path, cap_s: float,
            profile: Path | None = None) -> tuple[Child, dict[str, Any]]:
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    argv = [sys.executable, *prefix, "-m", "acra_enrich", "run", "direct", "--dry-run", "--json",
            "--start-after-id", str(after)]
    child = run_child(argv, env, tmp / "dry_run.stderr", cap_s)
    return child, json.loads(child.stdout)


def log_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "logs").glob("*.log*"))


def measure(dsn: str, env: dict[str, str], params: DirectParams, after: int, cap_s: float, tmp: Path) -> Measure:
    home = Path(env["ACRA_ENRICH_HOME"])
    with psycopg.connect(dsn) as conn:  # the same warm heap for both readers
        conn.execute("SELECT count(entity_status_description) FROM staging_acra_companies WHERE id > %s", (after,))
    base = run_child([sys.executable, "-c", BASELINE, dsn, str(after)], env, tmp / "baseline.stderr")
    base_out = json.loads(base.stdout)
    logged = log_bytes(home) if (home / "logs").exists() else 0
    dry, summary = dry_run(env, after, tmp, cap_s)
    values = {"after": after, "upto": summary["marker"], "excluded": params.status_patterns(),
              "any_history": params.skip_if_any_history, "recheck_days": params.recheck_days}
    with psycopg.connect(dsn) as conn:
        rows_read, live, skipped = (int(conn.execute(q, values).fetchone()[0])
                                    for q in (ROWS_IN_RANGE, LIVE_COUNT, SKIPPED_COUNT))
    return Measure(base, base_out["rows"], base_out["seconds"], dry, summary, rows_read, live, skipped,
                   (log_bytes(home) - logged) / 1e6, (tmp / "dry_run.stderr").stat().st_size / 1e6)


def print_table(whole: Measure, quarter: Measure) -> None:
    def line(label: str, fmt: str, pick: Any) -> None:
        print(f"{label:30}{format(pick(whole), fmt):>14}{format(pick(quarter), fmt):>14}")

    print(f"\n{'':30}{'whole table':>14}{'last quarter':>14}")
    line("baseline rows read", ",", lambda m: m.base_rows)
    line("baseline rows/s", ",.0f", lambda m: m.base_rows / m.base_s)
    line("  wall s (with start-up)", ".1f", lambda m: m.base.wall_s)
    line("dry run rows read", ",", lambda m: m.rows_read)
    line("dry run rows/s", ",.0f", lambda m: m.rows_read / m.summary["duration_s"])
    line("  eligible rows/s", ",.0f", lambda m: m.summary["selected"] / m.summary["duration_s"])
    line("  wall s (with start-up)", ".1f", lambda m: m.dry.wall_s)
    line("  stopped at the time cap", "", lambda m: "yes" if m.capped else "no")
    line("ratio dry run/baseline rows/s", ".3f",
         lambda m: (m.rows_read / m.summary["duration_s"]) / (m.base_rows / m.base_s))
    line("baseline peak RSS MB", ".0f", lambda m: m.base.rss_mb)
    line("dry run peak RSS MB", ".0f", lambda m: m.dry.rss_mb)
    line("eligible (selected)", ",", lambda m: m.summary["selected"])
    line("skipped", ",", lambda m: m.summary["skipped"])
    line("live rows read (SQL)", ",", lambda m: m.live)
    line("skipped by policy (SQL)", ",", lambda m: m.skipped_sql)
    line("log file MB written", ".1f", lambda m: m.log_mb)
    line("stderr MB written", ".1f", lambda m: m.stderr_mb)
    for label, m in (("whole", whole), ("quarter", quarter)):
        s = m.summary
        ok = s["selected"] + s["skipped"] == m.live and s["skipped"] == m.skipped_sql
        print(f"sanity {label}: eligible + skipped = {s['selected'] + s['skipped']:,} vs live {m.live:,}, "
              f"skipped {s['skipped']:,} vs SQL {m.skipped_sql:,}: {'OK' if ok else 'MISMATCH'}")
    print(f"RSS whole/quarter: dry run {whole.dry.rss_mb / quarter.dry.rss_mb:.2f} over "
          f"{whole.rows_read / max(quarter.rows_read, 1):.1f}x the rows, baseline "
          f"{whole.base.rss_mb / quarter.base.rss_mb:.2f}   (flat = 1.00)")


# Where a dry run's time goes: (label, file suffix, function) whose cumulative time is shown.
PROFILE_BUCKETS = (
    ("the sweep (asyncio.run)", "asyncio/runners.py", "run"),
    ("  one log line per eligible row", "structlog/stdlib.py", "info"),
    ("    formatting (ProcessorFormatter)", "structlog/stdlib.py", "format"),
    ("    redaction of every string value", "acra_enrich/logs.py", "_redact"),
    ("    RotatingFileHandler.shouldRollover", "logging/handlers.py", "shouldRollover"),
    ("  idle in epoll (page queries in a thread)", "~", "<method 'poll' of 'select.epoll' objects>"),
    ("  per-row slot acquisition", "runners/direct.py", "_acquire_slot"),
    ("imports at start-up", "<frozen importlib._bootstrap>", "_find_and_load"),
)


def print_profile(path: Path, rows: int, summary: dict[str, Any]) -> None:
    stats = pstats.Stats(str(path))
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total: float = stats.total_tt  # type: ignore[attr-defined]
    capped = " (stopped at the time cap)" if summary["status"] == "interrupted" else ""
    print(f"\nprofile: dry run from the last {rows:,} rows{capped} under cProfile: {summary['selected']:,} "
          f"eligible, {summary['skipped']:,} skipped, {total:.1f}s in all, {summary['duration_s']:.1f}s in the sweep")
    print(f"{'cumulative':>10} {'share':>6} {'calls':>9}  where")
    for label, suffix, name in PROFILE_BUCKETS:
        found = [(calls, cum) for (file, _, func), (_, calls, _, cum, _) in entries.items()
                 if func == name and file.endswith(suffix)]
        if found:
            calls, cum = max(found, key=lambda f: f[1])
            print(f"{cum:>9.1f}s {cum / total:>6.0%} {calls:>9,}  {label}")
    print(f"{'own time':>10} {'share':>6} {'calls':>9}  function")
    for (file, line, name), (_, calls, tt, _, _) in sorted(entries.items(), key=lambda kv: kv[1][2],
                                                          reverse=True)[:10]:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else ""
        print(f"{tt:>9.1f}s {tt / total:>6.0%} {calls:>9,}  {name}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recent", type=float, default=0.30, help="share of companies enriched yesterday")
    parser.add_argument("--old", type=float, default=0.10, help="share enriched 90 days ago")
    parser.add_argument("--max-seconds", type=float, default=75.0,
                        help="stop each dry run (SIGTERM) after this long; 0 = no cap")
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="also profile the dry run over the last ROWS rows (cProfile)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_direct_") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        dsn = fresh_database(BENCH_DB)
        prepare(dsn, args.rows, args.seed, args.recent, args.old, tmp)
        env = {**os.environ, "POSTGRES_DSN": dsn, "ACRA_ENRICH_HOME": str(home)}
        params = DirectParams.from_settings(load_settings(acra_enrich_home=home, postgres_dsn=dsn))

        def id_with_rows_above(rows: int) -> int:
            with psycopg.connect(dsn) as conn:
                return int(conn.execute("SELECT coalesce((SELECT id FROM staging_acra_companies "
                                        "ORDER BY id DESC OFFSET %s LIMIT 1), 0)", (rows,)).fetchone()[0])

        whole = measure(dsn, env, params, 0, args.max_seconds, tmp)
        quarter = measure(dsn, env, params, id_with_rows_above(args.rows // 4), args.max_seconds, tmp)
        print_table(whole, quarter)

        if args.profile:
            profile = tmp / "dry_run.prof"
            _, summary = dry_run(env, id_with_rows_above(args.profile), tmp, args.max_seconds, profile)
            print_profile(profile, args.profile, summary)


if __name__ == "__main__":
    main()
