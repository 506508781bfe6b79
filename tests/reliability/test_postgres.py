"""Issue 3, test 9 (PostgreSQL only): LISTEN/NOTIFY (test 8 is in test_killed_connections.py)."""

from __future__ import annotations

import time

import pytest

from stratix_queue import JobStatus, QueueService
from tests.conftest import only
from tests.reliability.harness import Workers, wait_until

pytestmark = pytest.mark.slow


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
