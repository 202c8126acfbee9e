"""Worker processes for the resolution concurrency tests (run as `python resolve_workers.py MODE ...`).

Each waits until the file named by START_FILE exists, so all workers of a test start
together, then works against POSTGRES_DSN:

- `temp N`: allocate N temporary ids (singly and in pairs), print one per line;
- `drain OUT BATCH`: drain the lookup queue with a directory provider that answers every
  name, appending each name it was asked to OUT;
- `crash BATCH LEASE_S`: claim a batch, print the claimed ids, and die without finishing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from acra_enrich.db import connect
from acra_enrich.resolve import CompanyMatch, LookupQueue, LookupResult, TempIdAllocator

from resolve_helpers import make_service


def _wait_for_start() -> None:
    start = Path(os.environ["START_FILE"])
    Path(os.environ["READY_FILE"]).touch()  # connected and imported: the parent starts us all together
    deadline = time.monotonic() + 60
    while not start.exists():
        if time.monotonic() > deadline:
            raise SystemExit("start file never appeared")
        time.sleep(0.005)


class EveryNameProvider:
    name = "directory"

    def __init__(self, log: Path) -> None:
        self.log = log

    def lookup(self, name: str) -> LookupResult:
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(name + "\n")
        return LookupResult("found", CompanyMatch(f"ID-{name}", name, None, self.name, 1.0))


def main(mode: str, *args: str) -> None:
    conn = connect(autocommit=True)
    _wait_for_start()
    if mode == "temp":
        allocator = TempIdAllocator(conn)
        remaining = int(args[0])
        while remaining:
            count = 2 if remaining >= 2 and remaining % 3 == 0 else 1
            for temp_id in allocator.allocate(count):
                print(temp_id)
            remaining -= count
    elif mode == "drain":
        service = make_service(conn, EveryNameProvider(Path(args[0])))
        service.process_lookup_queue(int(args[1]))
    elif mode == "crash":
        claimed = LookupQueue(conn, lease_s=float(args[1])).dequeue(int(args[0]))
        print(" ".join(str(r.id) for r in claimed), flush=True)
        os._exit(1)  # no mark_done, no rollback, no goodbye: a worker killed mid-batch
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(*sys.argv[1:])
