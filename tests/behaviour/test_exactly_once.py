"""Under 4 worker threads in each of 2 processes, 2,000 tasks each run exactly once."""

from __future__ import annotations

import multiprocessing

import pytest

from stratix_queue import QueueService
from tests import dbs, workerproc

TASKS = 2000
PROCESSES = 2
THREADS = 4


@pytest.mark.slow
def test_each_task_runs_exactly_once_across_processes(queue: QueueService, db_url: str) -> None:
    dbs.query(db_url, "DROP TABLE IF EXISTS executions")
    dbs.query(db_url, "CREATE TABLE executions (task_id BIGINT PRIMARY KEY, pid INTEGER NOT NULL)")
    jobs = queue.add_tasks([{"name": f"t{i}", "executor": "count"} for i in range(TASKS)])
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [
        ctx.Process(target=workerproc.run, args=(db_url, THREADS, start)) for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(240)
    try:
        assert [proc.exitcode for proc in procs] == [0] * PROCESSES
        executed = dbs.query(db_url, "SELECT task_id, pid FROM executions")
        assert len(executed) == TASKS
        assert {row[0] for row in executed} == {job.id for job in jobs}
        assert len({row[1] for row in executed}) == PROCESSES  # both processes did work
        assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == TASKS
        assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 0
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        dbs.query(db_url, "DROP TABLE IF EXISTS executions")
