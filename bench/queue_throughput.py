"""The code of bench/queue.py (which see): the queue overhead benchmark."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import time
from pathlib import Path

import psycopg

from benchdb import fresh_database
from queue_engines import Engine, PgQueuer, Procrastinate, Product, quiet_child

BENCH_DB = "acra_enrich_bench_queue"
OUT = Path(__file__).resolve().parent / "out"
WORKER_LOG = OUT / "queue-workers.log"


def _child(engine: Engine, dsn: str, concurrency: int) -> None:
    quiet_child(WORKER_LOG)
    engine.work(dsn, concurrency)


def measure(engine: Engine, jobs: int, processes: int, concurrency: int) -> float:
    """Jobs per second for one engine and process count, on a fresh database."""
    dsn = fresh_database(BENCH_DB)
    engine.install(dsn)
    engine.enqueue_noops(dsn, jobs)
    with psycopg.connect(dsn, autocommit=True) as watch:
        for table in engine.tables:
            watch.execute(f"VACUUM ANALYZE {table}")  # every engine starts from fresh statistics
        fork = multiprocessing.get_context("fork")
        workers = [fork.Process(target=_child, args=(engine, dsn, concurrency)) for _ in range(processes)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        while watch.execute(engine.pending_sql).fetchone()[0]:  # type: ignore[index]
            if all(w.exitcode is not None for w in workers):
                raise SystemExit(f"{engine.name}: every worker exited with jobs left (see {WORKER_LOG})")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        for w in workers:
            w.join(120)
            if w.exitcode is None:
                w.kill()
                raise SystemExit(f"{engine.name}: a worker did not exit after the queue was empty")
            if w.exitcode != 0:
                raise SystemExit(f"{engine.name}: a worker exited with {w.exitcode} (see {WORKER_LOG})")
        done = engine.done_count(watch)
        if done != jobs:
            raise SystemExit(f"{engine.name}: {done} jobs done, expected {jobs}")
    return jobs / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bench/queue.py", description="Claim + complete of no-op jobs per second: the product's queue layer "
        "beside bare pgqueuer and bare procrastinate, same layout, same run (the docstring of bench/queue.py "
        "explains how it measures).")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--concurrency", type=int, default=10, help="jobs at once per worker process")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=["acra_enrich.jobs", "pgqueuer", "procrastinate"])
    parser.add_argument("--quick", action="store_true", help="2,000 jobs, one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.rounds = 2_000, 1

    product_home = OUT / "queue-home"
    shutil.rmtree(product_home, ignore_errors=True)
    every: list[Engine] = [Product(product_home), PgQueuer(), Procrastinate()]
    engines = [e for e in every if e.name in args.engines]
    WORKER_LOG.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    print(f"queue benchmark: {args.jobs} no-op jobs, {args.rounds} round(s), concurrency {args.concurrency} "
          f"per process, {os.cpu_count()} CPUs, load average {load:.2f} at start", flush=True)

    rates: dict[tuple[str, int], list[float]] = {}
    for rnd in range(args.rounds):
        order = engines if rnd % 2 == 0 else list(reversed(engines))
        for processes in args.processes:
            for engine in order:
                rate = measure(engine, args.jobs, processes, args.concurrency)
                rates.setdefault((engine.name, processes), []).append(rate)
                print(f"  round {rnd + 1}: {engine.name:17} {processes} process(es): {rate:8.0f} jobs/s", flush=True)

    print(f"\nmedian of {args.rounds} round(s), jobs/s (load average {os.getloadavg()[0]:.2f} at end)")
    names = [e.name for e in engines]
    print(f"{'processes':>9}  " + "  ".join(f"{n:>17}" for n in names)
          + ("  product / pgqueuer  product / procrastinate" if "acra_enrich.jobs" in names else ""))
    for processes in args.processes:
        median = {n: statistics.median(rates[(n, processes)]) for n in names}
        line = f"{processes:>9}  " + "  ".join(f"{median[n]:>17.0f}" for n in names)
        if "acra_enrich.jobs" in median:
            mine = median["acra_enrich.jobs"]
            if "pgqueuer" in median:
                line += f"  {mine / median['pgqueuer']:>18.2f}"
            if "procrastinate" in median:
                line += f"  {mine / median['procrastinate']:>23.2f}"
        print(line)
    if "acra_enrich.jobs" in names and "pgqueuer" in names:
        print("goal (issue 12): product / pgqueuer >= 0.8 at every process count")


if __name__ == "__main__":
    main()
