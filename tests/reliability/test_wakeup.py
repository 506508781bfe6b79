"""SQLite: an idle worker in another process is woken by a commit (PRAGMA data_version), not by
its poll; the PostgreSQL counterpart (NOTIFY) is in test_postgres.py."""

from __future__ import annotations

import time

import pytest

from stratix_queue import JobStatus, QueueService
from tests.conftest import only
from tests.reliability.harness import Workers, wait_until

pytestmark = pytest.mark.slow


@only("sqlite")
@pytest.mark.parametrize("listen", [True, False])
def test_a_commit_wakes_an_idle_sqlite_worker(
    queue: QueueService, workers: Workers, listen: bool
) -> None:
    workers.start("--concurrency", "1", "--poll", "30", *([] if listen else ["--no-listen"]))
    ready = "watching for new tasks" if listen else "started"
    assert wait_until(lambda: ready in workers.log(), 30), workers.log()
    time.sleep(0.5)  # past the first (empty) claim: the worker now sleeps on its 30 s poll
    job = queue.add_task(name="wake", executor="count")
    if listen:
        assert wait_until(lambda: queue.get_task(job.id) is None, 10, step=0.02), workers.log()
    else:
        assert not wait_until(lambda: queue.get_task(job.id) is None, 3)
        stored = queue.get_task(job.id)
        assert stored is not None and stored.status is JobStatus.WAITING
