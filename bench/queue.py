"""Queue overhead benchmark: claim + complete of no-op jobs per second, the product's layer
(acra_enrich.jobs) beside bare pgqueuer and bare procrastinate, in the same run.

    .venv/bin/python bench/queue.py [--jobs 20000] [--processes 1 4] [--concurrency 10]
                                    [--rounds 3] [--quick]

For each engine and process count: a fresh database with the engine's schema, N no-op jobs
queued with the engine's own enqueue (not timed), then P worker processes started together
(forked, so no import time is counted), each the engine's own worker with the same
per-process concurrency:
  - acra_enrich.jobs: Dispatcher(lane="express", both express job types, the settings' lease
    and retry policy, no caps) .run(once=True), logging to its file as `run express` does;
  - pgqueuer: QueueManager over the psycopg driver, drain mode, max_concurrent_tasks = the
    concurrency (batch_size half of it: pgqueuer asks for at least twice the batch);
  - procrastinate: a worker with wait=False and the same concurrency (its default pool).
Timed, in the parent: from starting the workers to no job left waiting or running (a cheap
EXISTS query every 10 ms). Every job is then checked done exactly once. Rounds alternate the
engine order; the median round is printed.

Goal (issue 12 §5): product / pgqueuer >= 0.8. The machine is shared: run it when `uptime`
shows a low load, and compare ratios (measured in the same run), not absolute rates.

Uses POSTGRES_DSN when set, else the embedded server under bench/out/home; every measurement
in a fresh database of its own. Not a test.

The code is in queue_throughput.py. This file's name is also the standard library's `queue`,
which scripts in bench/ (this folder first on sys.path) import through psycopg and logging:
imported under that name, this file hands over the standard library's module.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from queue_throughput import main

    main()
else:
    import importlib.util
    import sysconfig
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location(__name__, Path(sysconfig.get_path("stdlib")) / "queue.py")
    assert _spec is not None and _spec.loader is not None
    _stdlib_queue = importlib.util.module_from_spec(_spec)
    sys.modules[__name__] = _stdlib_queue  # what `import queue` returns once this file has run
    _spec.loader.exec_module(_stdlib_queue)
