"""Issue 3, tests 8 and 9 (PostgreSQL only): connections killed mid-drain, and LISTEN/NOTIFY."""

from __future__ import annotations

import time

import pytest

from stratix_queue import JobStatus, QueueService
from tests import dbs
from tests.conftest import only
from tests.reliability.harness import Workers, no_overlap, wait_until

pytestmark = pytest.mark.slow


def _terminate_other_connections(url: str) -> int:
    rows = dbs.query(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    return len(rows)


@only("postgres")
def test_connections_killed_mid_drain_lose_nothing(
    queue: QueueService, db_url: str, workers: Workers
) -> None:
    tasks = 5000
    jobs = queue.add_tasks([{"name": f"t{i}", "executor": "count"} for i in range(tasks)])
    proc = workers.start(
        "--processes", "2", "--concurrency", "4", "--burst", "--lease", "5", "--poll", "0.2"
    )
    killed = 0
    for threshold in (1000, 2500):
        assert wait_until(lambda t=threshold: len(workers.ends_by_task()) >= t, 60), workers.log()
        killed += _terminate_other_connections(db_url)
    assert killed >= 2
    assert proc.wait(240) == 0, workers.log()
    # A claim whose reply died with its connection is released by the worker that made it
    # (by its lease token) once the database is back: nothing is left behind or failed.
    assert dbs.query(db_url, "SELECT status, COUNT(*) FROM queue_jobs GROUP BY status") == []
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == tasks
    assert set(workers.ends_by_task()) == {job.id for job in jobs}
    assert no_overlap(workers.runs())
    assert "reaches the database again" in workers.log(0) or "retrying" in workers.log(0)


@only("postgres")
@pytest.mark.parametrize("listen", [True, False])
def test_notify_wakes_an_idle_worker(queue: QueueService, workers: Workers, listen: bool) -> None:
    """The worker polls only every 30 s, so a start within seconds can only be NOTIFY's doing;
    with --no-listen the same task must still be waiting after those seconds."""
    args = ["--concurrency", "1", "--poll", "30"] + ([] if listen else ["--no-listen"])
    workers.start(*args)
    ready = "listening for new tasks" if listen else "started"
    assert wait_until(lambda: ready in workers.log(), 30), workers.log()
    time.sleep(0.5)  # past the worker's first (empty) claim: it now sleeps on its 30 s poll
    job = queue.add_task(name="wake", executor="count")

    def done() -> bool:
        return queue.get_task(job.id) is None

    if listen:
        assert wait_until(done, 10, step=0.02), workers.log()
    else:
        assert not wait_until(done, 3)
        stored = queue.get_task(job.id)
        assert stored is not None and stored.status is JobStatus.WAITING
