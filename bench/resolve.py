"""Company-id resolution benchmark: the service against bare PostgreSQL baselines, same run.

    .venv/bin/python bench/resolve.py [--mentions 100000] [--mappings 200000] [--jobs 20000]
                                      [--file-rows 1000000] [--quick]

1. Internal hits: MENTIONS mentions (plan code, customer name, account name or UEN, some
   with several keys) resolved against MAPPINGS company_mapping rows,
   - in bulk (`resolve_many`, one statement per 1,000 mentions), and
   - one call at a time (`resolve_company_id`), with p50/p99 latency and the round trips
     one call makes (counted from libpq's protocol trace),
   each beside the baseline: one plain indexed `SELECT company_id FROM company_mapping
   WHERE match_type = ... AND alias = ...` per mention.
2. Queue drain: JOBS lookup requests drained by `process_lookup_queue` with 1 and 4 worker
   processes (a provider that answers at once, so the queue machinery is what is timed:
   claim with lease and internal re-check, cache upsert, fenced finish), beside a bare
   `FOR UPDATE SKIP LOCKED` claim loop (claim a batch, mark it done) with as many workers:
   the loop issue 9 measured (claims ordered by id) and the same loop in the order of the
   queue's ready index (a fairer floor: ordered by id, each claim walks the finished rows).
   Then a tenth of JOBS drained with 1 and 4 workers by a provider that answers in 1 ms,
   as lookups take time: whether workers hold each other up rather than share the cores.
3. `acra-enrich resolve file` (the CLI, in a process of its own) on a CSV of FILE_ROWS
   mentions (mostly hits, some unknown names that are queued and nameless plan codes that
   get TEMP ids) and on one of a fiftieth of that: rows/s and the process's peak RSS.

Prints each figure with its baseline and the ratio. Uses POSTGRES_DSN when set, else the
embedded server under bench/out/home; always in a fresh database of its own. Not a test.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Callable

import psycopg

from acra_enrich.db.connection import describe_dsn
from acra_enrich.resolve import (
    CompanyEnrichmentService,
    CompanyMatch,
    LookupQueue,
    LookupResult,
    MappingStore,
    Mention,
    ResolutionStatus,
)
from acra_enrich.resolve.models import DEFAULT_PRIORITY, alias_key
from benchdb import fresh_database

HERE = Path(__file__).resolve().parent
BENCH_DB = "acra_enrich_bench_resolve"
BATCH = 50  # WDH_LOOKUP_QUEUE_BATCH_SIZE's default
DRAIN_REPEATS = 3
# Share of the mapping table per match type (normalised names are what lookups cache most).
MIX = {"uen": 0.10, "plan_code": 0.20, "account_name": 0.20, "customer_name": 0.20, "normalized_name": 0.30}
WORDS = ("alpha", "apex", "bright", "crystal", "dragon", "eagle", "golden", "harmony", "jade", "lotus",
         "merlion", "nova", "orchid", "phoenix", "raffles", "sunrise", "vertex", "zenith", "kaizen", "sakura")
TRADES = ("trading", "logistics", "engineering", "holdings", "technologies", "consulting", "foods", "marine")


def company_name(n: int) -> str:
    r = random.Random(n)
    return f"{r.choice(WORDS).upper()} {r.choice(WORDS).upper()} {r.choice(TRADES).upper()} {n} PTE. LTD."


def raw_value(match_type: str, n: int) -> str:
    """The value a mention carries for mapping number n of this type."""
    if match_type == "uen":
        return f"{2000 + n % 25}{n:05d}{'ABCDEFGHJK'[n % 10]}"
    if match_type == "plan_code":
        return f"P{n:07d}"
    if match_type == "account_name":
        return f"ACCOUNT {n} {company_name(n)}"
    return company_name(n)


def load_mappings(dsn: str, total: int) -> dict[str, int]:
    """COPY `total` mappings in and vacuum them, as autovacuum soon does to a table after a
    load (baseline and product then read the same settled table); how many of each match type."""
    counts = {t: int(total * share) for t, share in MIX.items()}
    counts["normalized_name"] += total - sum(counts.values())
    with psycopg.connect(dsn) as conn:
        with conn.cursor().copy("COPY company_mapping (alias, match_type, priority, company_id, source) "
                                "FROM STDIN") as copy:
            for match_type, count in counts.items():
                for n in range(count):
                    alias = alias_key(match_type, raw_value(match_type, n))
                    copy.write_row((alias, match_type, DEFAULT_PRIORITY[match_type], f"C{n:07d}", "bench"))
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) company_mapping")
    return counts


def make_mentions(count: int, counts: dict[str, int], seed: int = 7) -> list[tuple[Mention, str, str]]:
    """Mentions that all hit, each with the (match_type, alias) a plain SELECT would use."""
    r = random.Random(seed)
    mentions = []
    for _ in range(count):
        match_type = r.choices(list(MIX), weights=list(MIX.values()))[0]
        n = r.randrange(counts[match_type])
        value = raw_value(match_type, n)
        if match_type == "normalized_name":
            # another spelling of the name: only its normalised form is mapped
            value = value.replace("PTE. LTD.", "PRIVATE LIMITED").title()
            mention = Mention.of(customer_name=value, plan_code=f"NOPE{n}" if n % 2 else None)
        elif match_type == "customer_name":
            mention = Mention.of(customer_name=value, account_name=f"unmapped {n}" if n % 3 == 0 else None)
        else:
            mention = Mention.of(**{match_type: value})
        alias = alias_key(match_type, value)
        assert alias is not None
        mentions.append((mention, match_type, alias))
    return mentions


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def service_on(conn: psycopg.Connection, provider: object | None = None) -> CompanyEnrichmentService:
    return CompanyEnrichmentService(MappingStore(conn), LookupQueue(conn), provider,  # type: ignore[arg-type]
                                    sync_lookup_budget=0)


def round_trips_per_call(conn: psycopg.Connection, service: CompanyEnrichmentService,
                         mentions: list[tuple[Mention, str, str]]) -> float:
    """Round trips per resolve_company_id call: the server's ReadyForQuery messages in
    libpq's protocol trace, over the given calls."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        for mention, _, _ in mentions:
            service.resolve_company_id(plan_code=mention.plan_code, customer_name=mention.customer_name,
                                       account_name=mention.account_name, uen=mention.uen)
        conn.pgconn.untrace()
        trace.seek(0)
        return sum(1 for line in trace if "\tReadyForQuery" in line) / len(mentions)


def bench_internal(dsn: str, mentions: list[tuple[Mention, str, str]], single: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Baseline: one indexed SELECT per mention, on the key known to hit.
        started = time.perf_counter()
        latencies = []
        for _, match_type, alias in mentions:
            t0 = time.perf_counter()
            row = conn.execute("SELECT company_id FROM company_mapping WHERE match_type = %s AND alias = %s",
                               (match_type, alias)).fetchone()
            latencies.append(time.perf_counter() - t0)
            assert row is not None
        base_s = time.perf_counter() - started
        base_rate = len(mentions) / base_s

        service = service_on(conn)
        started = time.perf_counter()
        hits = sum(1 for r in service.resolve_many([m for m, _, _ in mentions])
                   if r.status is ResolutionStatus.SUCCESS_INTERNAL)
        bulk_s = time.perf_counter() - started
        assert hits == len(mentions), f"only {hits} of {len(mentions)} mentions hit"

        subset = mentions[:single]
        one_latencies = []
        started = time.perf_counter()
        for mention, _, _ in subset:
            t0 = time.perf_counter()
            result = service.resolve_company_id(plan_code=mention.plan_code, customer_name=mention.customer_name,
                                                account_name=mention.account_name, uen=mention.uen)
            one_latencies.append(time.perf_counter() - t0)
            assert result.status is ResolutionStatus.SUCCESS_INTERNAL
        one_s = time.perf_counter() - started
        trips = round_trips_per_call(conn, service, mentions[:200])

    base_p50, base_p99 = pct(latencies, 0.5) * 1e3, pct(latencies, 0.99) * 1e3
    one_p50, one_p99 = pct(one_latencies, 0.5) * 1e3, pct(one_latencies, 0.99) * 1e3
    bulk_rate, one_rate = len(mentions) / bulk_s, len(subset) / one_s
    print(f"\ninternal hits ({len(mentions):,} mentions)")
    print(f"  baseline: plain indexed SELECT per mention   {base_rate:>10,.0f} /s   p50 {base_p50:.3f} ms"
          f"   p99 {base_p99:.3f} ms")
    print(f"  resolve_many (bulk, 1,000 per statement)    {bulk_rate:>10,.0f} /s"
          f"   ratio {bulk_rate / base_rate:.2f}x baseline")
    print(f"  resolve_company_id (one call each, {len(subset):,})  {one_rate:>10,.0f} /s"
          f"   ratio {one_rate / base_rate:.2f}x baseline")
    print(f"      p50 {one_p50:.3f} ms = {one_p50 / base_p50:.2f}x baseline p50   "
          f"p99 {one_p99:.3f} ms = {one_p99 / base_p99:.2f}x baseline p99   round trips per call on a hit {trips:.2f}")


class AnswerAll:
    name = "bench"

    def lookup(self, name: str) -> LookupResult:
        return LookupResult("found", CompanyMatch(f"Q-{name}", name, None, self.name, 1.0))


def fill_queue(dsn: str, jobs: int) -> None:
    """A full queue, and company_mapping as it was before the last drain cached its answers
    (needs a role allowed to CHECKPOINT: a superuser or pg_checkpoint).
    The vacuum matters: each drain caches the same names again, and against the dead rows of
    the last drain's answers every insert would check them first (the later runs would pay
    for the earlier ones)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE lookup_requests")
        conn.execute("DELETE FROM company_mapping WHERE source = 'bench-queue'")
        conn.execute("VACUUM company_mapping")
        # Every drain starts just after a checkpoint, so none pays more full-page writes than another.
        conn.execute("CHECKPOINT")
        conn.execute("INSERT INTO lookup_requests (name, normalized_name) "
                     "SELECT 'Queued Company ' || n || ' Pte Ltd', 'queued company ' || n "
                     "FROM generate_series(1, %s) AS n", (jobs,))
        conn.execute("ANALYZE lookup_requests")


class AnswerAfter(AnswerAll):
    """Answers every name after `delay_s`, as a fast lookup API would."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def lookup(self, name: str) -> LookupResult:
        time.sleep(self.delay_s)
        return super().lookup(name)


def _drain(provider: AnswerAll, dsn: str, ready: Barrier, results: Queue) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        provider.name = "bench-queue"
        service = service_on(conn, provider)
        ready.wait()
        results.put(service.process_lookup_queue(BATCH).done)


def _drain_worker(dsn: str, ready: Barrier, results: Queue) -> None:
    _drain(AnswerAll(), dsn, ready, results)


def _drain_worker_1ms(dsn: str, ready: Barrier, results: Queue) -> None:
    _drain(AnswerAfter(0.001), dsn, ready, results)


# The bare loop as issue 9 measured it: the claim orders by id, so each claim walks the
# rows already finished (PostgreSQL reads the primary key in order and filters), which
# makes it slower the further the drain gets. (A processing row holds a lease, by the table's
# constraint, as in any claim loop that lets a dead worker's rows be taken back.)
BARE_CLAIM_BY_ID = """
WITH ready AS (
    SELECT id FROM lookup_requests WHERE status = 'pending' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE lookup_requests r SET status = 'processing', lease_until = now() + interval '5 minutes'
FROM ready WHERE r.id = ready.id RETURNING r.id
"""
# The same loop in the order the queue's ready index serves: the fair floor.
BARE_CLAIM_INDEXED = BARE_CLAIM_BY_ID.replace("ORDER BY id", "ORDER BY next_attempt_at, id")


def _bare_loop(claim: str, dsn: str, ready: Barrier, results: Queue) -> None:
    done = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        ready.wait()
        while True:
            ids = [row[0] for row in conn.execute(claim, (BATCH,))]
            if not ids:
                break
            conn.execute("UPDATE lookup_requests SET status = 'done', lease_until = NULL WHERE id = ANY(%s)", (ids,))
            done += len(ids)
    results.put(done)


def _bare_worker(dsn: str, ready: Barrier, results: Queue) -> None:
    _bare_loop(BARE_CLAIM_BY_ID, dsn, ready, results)


def _bare_indexed_worker(dsn: str, ready: Barrier, results: Queue) -> None:
    _bare_loop(BARE_CLAIM_INDEXED, dsn, ready, results)


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of the whole machine so far, from /proc/stat (Linux only)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def run_workers(target: Callable[[str, Barrier, Queue], None], dsn: str,
                workers: int) -> tuple[int, float, float | None]:
    """Start `workers` processes; time them from the moment all are connected and waiting
    (not from their start-up) until the last one has finished. Also how many of the machine's
    cores were busy meanwhile (the workers and PostgreSQL alike; None off Linux)."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(dsn, ready, results)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    ready.wait(timeout=300)
    started, before = time.perf_counter(), cpu_ticks()
    done = sum(results.get(timeout=3600) for _ in procs)
    elapsed, after = time.perf_counter() - started, cpu_ticks()
    for proc in procs:
        proc.join()
    busy = None
    if before and after and after[1] > before[1]:
        busy = (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)
    return done, elapsed, busy


def bench_queue(dsn: str, jobs: int) -> None:
    print(f"\nqueue drain ({jobs:,} requests, batches of {BATCH}; jobs/s from all workers connected to the last done)")
    rates: dict[int, dict[str, float]] = {}
    busy: dict[int, float | None] = {}
    for workers in (1, 4):
        rates[workers] = {}
        for name, target in (("bare", _bare_worker), ("indexed", _bare_indexed_worker), ("ours", _drain_worker)):
            # A drain lasts a second or two, about as long as the machine's slow spells: each
            # figure is the median of DRAIN_REPEATS drains.
            runs = []
            for _ in range(DRAIN_REPEATS):
                fill_queue(dsn, jobs)
                done, seconds, cores = run_workers(target, dsn, workers)
                assert done == jobs, (name, done, jobs)
                runs.append((jobs / seconds, cores))
            rate, cores = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            rates[workers][name] = rate
            if name == "ours":
                busy[workers] = cores
        r = rates[workers]
        print(f"  {workers} worker(s): process_lookup_queue {r['ours']:>8,.0f} jobs/s   "
              f"bare claim loop {r['bare']:>8,.0f} (ratio {r['ours'] / r['bare']:.2f}x)   "
              f"bare loop in index order {r['indexed']:>8,.0f} (ratio {r['ours'] / r['indexed']:.2f}x)")
    print(f"  4 workers against 1: process_lookup_queue {rates[4]['ours'] / rates[1]['ours']:.2f}x, "
          f"bare claim loop {rates[4]['bare'] / rates[1]['bare']:.2f}x, "
          f"in index order {rates[4]['indexed'] / rates[1]['indexed']:.2f}x")
    if busy[1] and busy[4]:
        # One worker already keeps part of a second core busy (PostgreSQL answers while it
        # works): more workers can at most fill the cores that are left.
        cores = os.cpu_count() or 1
        ceiling = min(4.0, cores / busy[1])
        print(f"  cores busy (workers and PostgreSQL, of {cores}): 1 worker {busy[1]:.2f}, 4 workers {busy[4]:.2f}; "
              f"the most 4 workers can gain here is {ceiling:.2f}x, and they gain "
              f"{rates[4]['ours'] / rates[1]['ours']:.2f}x ({rates[4]['ours'] / rates[1]['ours'] / ceiling:.2f} of it)")
    # With lookups that take time, as real ones do, the workers overlap their waits: this
    # shows whether they hold each other up (locks, the claim) rather than share two cores.
    slow_jobs = max(BATCH * 20, jobs // 10)
    slow = {}
    for workers in (1, 4):
        fill_queue(dsn, slow_jobs)
        done, seconds, _ = run_workers(_drain_worker_1ms, dsn, workers)
        assert done == slow_jobs, (done, slow_jobs)
        slow[workers] = slow_jobs / seconds
    print(f"  with a provider answering in 1 ms ({slow_jobs:,} requests): 1 worker {slow[1]:,.0f} jobs/s, "
          f"4 workers {slow[4]:,.0f} jobs/s ({slow[4] / slow[1]:.2f}x)")


def write_mentions_file(path: Path, rows: int, counts: dict[str, int]) -> None:
    """Mentions as a CRM export has them: 90% known (any key), 5% unknown names (queued,
    a tenth of them repeated), 5% nameless unknown plan codes (TEMP ids, some repeated)."""
    known = make_mentions(min(rows, 50_000), counts, seed=11)
    r = random.Random(5)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ref", "customer_name", "plan_code", "account_name", "uen"])
        for n in range(rows):
            roll = r.random()
            if roll < 0.05:
                row = [f"UNKNOWN {r.randrange(rows // 10 + 1)} {company_name(n)}", "", "", ""]
            elif roll < 0.10:
                row = ["", f"NEW{r.randrange(rows // 20 + 1)}", "", ""]
            else:
                m = known[n % len(known)][0]
                row = [m.customer_name or "", m.plan_code or "", m.account_name or "", m.uen or ""]
            writer.writerow([n, *row])


def run_resolve_file(dsn: str, path: Path) -> tuple[float, int]:
    """`acra-enrich resolve file PATH --budget 0` in a process of its own: seconds and peak RSS (KiB)."""
    env = {**os.environ, "POSTGRES_DSN": dsn, "ACRA_ENRICH_HOME": str(HERE / "out" / "home")}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "acra_enrich", "resolve", "file", str(path), "--budget", "0",
                             "--json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"resolve file failed: {proc.stderr.read().decode() if proc.stderr else status}")
    return seconds, usage.ru_maxrss


def bench_file(dsn: str, rows: int, counts: dict[str, int]) -> None:
    small_rows = max(1_000, rows // 50)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        figures = {}
        for n in (small_rows, rows):
            path = Path(tmp) / f"mentions-{n}.csv"
            write_mentions_file(path, n, counts)
            figures[n] = run_resolve_file(dsn, path)
            with open(Path(tmp) / f"mentions-{n}.resolved.csv", encoding="utf-8") as f:
                assert sum(1 for _ in f) == n + 1
    print(f"\nresolve file (the CLI, --budget 0; 90% known, 5% unknown names, 5% new plan codes)")
    for n, (seconds, rss) in figures.items():
        print(f"  {n:>9,} mentions: {n / seconds:>8,.0f} rows/s   peak RSS {rss / 1024:,.0f} MiB")
    print(f"  peak RSS, {rows:,} rows against {small_rows:,}: {figures[rows][1] / figures[small_rows][1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--mappings", type=int, default=200_000)
    parser.add_argument("--single", type=int, default=20_000, help="mentions also resolved one call at a time")
    parser.add_argument("--jobs", type=int, default=20_000, help="lookup requests drained per queue run")
    parser.add_argument("--file-rows", type=int, default=1_000_000, help="mentions in the resolve file run")
    parser.add_argument("--quick", action="store_true",
                        help="a small run (10k mentions, 20k mappings, 5k jobs, 200k file rows)")
    args = parser.parse_args()
    if args.quick:
        args.mentions, args.mappings, args.single, args.jobs = 10_000, 20_000, 2_000, 5_000
        args.file_rows = 200_000

    dsn = fresh_database(BENCH_DB)
    print(f"database: {describe_dsn(dsn)} ({'POSTGRES_DSN' if os.environ.get('POSTGRES_DSN') else 'embedded'})")
    started = time.perf_counter()
    counts = load_mappings(dsn, args.mappings)
    print(f"loaded {args.mappings:,} mappings in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    mentions = make_mentions(args.mentions, counts)
    bench_internal(dsn, mentions, min(args.single, len(mentions)))
    bench_queue(dsn, args.jobs)
    bench_file(dsn, args.file_rows, counts)


if __name__ == "__main__":
    sys.exit(main())
