"""Issue 3, tests 6 and 7: graceful shutdown on SIGTERM, and timeouts."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from stratix_queue import JobStatus, QueueService
from tests import dbs
from tests.reliability import app
from tests.reliability.harness import Workers, wait_until

pytestmark = pytest.mark.slow


def _started(workers: Workers, count: int) -> bool:
    return sum(1 for run in workers.runs() if run.phase == "start") >= count


def test_sigterm_lets_running_tasks_finish_and_claims_nothing_new(
    queue: QueueService, db_url: str, workers: Workers
) -> None:
    jobs = queue.add_tasks([{"name": "s", "executor": "sleep", "payload": {"seconds": 2}}] * 10)
    proc = workers.start("--concurrency", "10", "--grace", "5", "--poll", "0.1")
    assert wait_until(lambda: _started(workers, 10), 30), workers.log()
    proc.send_signal(signal.SIGTERM)
    late = queue.add_task(name="late", executor="count")  # must not be claimed any more
    assert proc.wait(15) == 0, workers.log()
    assert set(workers.ends_by_task()) == {job.id for job in jobs}
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 10
    stored = queue.get_task(late.id)
    assert stored is not None and stored.status is JobStatus.WAITING
    assert queue.list_workers() == []  # it unregistered


def test_sigterm_gives_unfinished_tasks_back_after_the_grace_period(
    queue: QueueService, workers: Workers
) -> None:
    jobs = queue.add_tasks([{"name": "s", "executor": "sleep", "payload": {"seconds": 60}}] * 3)
    proc = workers.start("--concurrency", "3", "--grace", "2", "--poll", "0.1")
    assert wait_until(lambda: _started(workers, 3), 30), workers.log()
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)

    def all_back() -> bool:
        found = [queue.get_task(job.id) for job in jobs]
        return all(j is not None and j.status is JobStatus.WAITING for j in found)

    assert wait_until(all_back, 2 + 2 + 1, step=0.05), workers.log()
    elapsed = time.monotonic() - signalled
    assert elapsed <= 2 + 2, (elapsed, workers.log())
    assert proc.wait(10) == 0, workers.log()
    for job in jobs:
        stored = queue.get_task(job.id)
        assert stored is not None
        assert (stored.attempts, stored.lease_token, stored.locked_by) == (0, None, None)
    assert workers.ends_by_task() == {}


def test_a_second_signal_exits_at_once(queue: QueueService, workers: Workers) -> None:
    job = queue.add_task(name="s", executor="sleep", payload={"seconds": 60})
    proc = workers.start("--concurrency", "1", "--grace", "60", "--poll", "0.1")
    assert wait_until(lambda: _started(workers, 1), 30), workers.log()
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.5)  # a repeat within 1 s is the same shutdown (systemd signals every process)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) != 0
    stored = queue.get_task(job.id)
    assert stored is not None and stored.status is JobStatus.EXECUTING  # the lease does the rest


@pytest.mark.parametrize("executor", ["hard_sleep", "async_sleep"])
def test_timeout_ends_the_attempt_with_timeout(
    db_url: str, executor: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2 s timeout on a task that would sleep 30 s: the attempt ends TIMEOUT within 3 s.
    hard_sleep runs in a child process (killed); async_sleep is cancelled on the loop."""
    monkeypatch.setenv("STRATIX_TEST_RUNS_DIR", str(tmp_path))
    queue = app.queue.with_url(db_url)
    job = queue.add_task(name="slow", executor=executor, payload={"seconds": 30})
    worker = threading.Thread(
        target=queue.run_worker, kwargs={"concurrency": 1, "poll_interval": 0.1}
    )
    started = time.monotonic()
    worker.start()
    try:

        def timed_out() -> bool:
            stored = queue.get_task(job.id)
            return stored is not None and stored.status is JobStatus.FAILED

        assert wait_until(timed_out, 10, step=0.05)
        assert time.monotonic() - started < 3.5  # 2 s timeout + claim and bookkeeping
    finally:
        queue.stop_workers()
        worker.join(15)
        queue.close()
    stored = queue.get_task(job.id)
    assert stored is not None and stored.error_code == "TIMEOUT"
    assert [e.code for e in queue.get_task_errors(job.id)] == ["TIMEOUT"]
