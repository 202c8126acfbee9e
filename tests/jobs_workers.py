"""A dispatcher process for the queue's multi-process tests: `python jobs_workers.py DSN LANE
CONCURRENCY`. Its handler logs each execution (job, process, start, end) to job_exec_log and
takes a little time, so that executions of different processes overlap; it drains what is
ready and exits."""

from __future__ import annotations

import asyncio
import os
import random
import sys

import psycopg

from acra_enrich.jobs import Dispatcher, JobType, RunningJob


async def main(dsn: str, lane: str, concurrency: int) -> None:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)

    async def record(job: RunningJob) -> None:
        started = (await (await conn.execute("SELECT clock_timestamp()")).fetchone())[0]  # type: ignore[index]
        await asyncio.sleep(random.uniform(0, 0.01))
        await conn.execute("INSERT INTO job_exec_log (job_id, pid, started_at, ended_at) "
                           "VALUES (%s, %s, %s, clock_timestamp())", (job.job_id, os.getpid(), started))

    dispatcher = Dispatcher(dsn, lane=lane, job_types={"noop": JobType(record)}, concurrency=concurrency)
    await dispatcher.run(once=True)
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
