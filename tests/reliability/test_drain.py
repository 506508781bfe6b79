"""Issue 3, test 1: many worker processes drain a backlog; every task runs exactly once."""

from __future__ import annotations

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.reliability.harness import Workers, no_overlap

pytestmark = pytest.mark.slow


def test_many_processes_drain_every_task_exactly_once(
    backend: str, queue: QueueService, db_url: str, workers: Workers
) -> None:
    # 3,000 tasks; SQLite is one file on one host: 2 processes, the servers get 4 x 4.
    processes, tasks = (2 if backend == "sqlite" else 4), 3000
    jobs = queue.add_tasks([{"name": f"t{i}", "executor": "count"} for i in range(tasks)])
    # A small fixed prefetch keeps every process claiming until the end (see workerproc.py).
    proc = workers.start(
        "--processes", str(processes), "--concurrency", "4", "--prefetch", "8", "--burst"
    )
    assert proc.wait(240) == 0, workers.log()
    ends = workers.ends_by_task()
    assert set(ends) == {job.id for job in jobs}
    assert set(ends.values()) == {1}
    assert len({run.pid for run in workers.runs()}) == processes
    assert no_overlap(workers.runs())
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == tasks
    assert queue.count_by_status() == dict.fromkeys(
        ("waiting", "executing", "delayed", "paused", "failed"), 0
    )
    log = workers.log()
    for trouble in ("database is locked", "could not record", "cannot claim", "Traceback"):
        assert trouble not in log
