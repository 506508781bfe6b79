"""The Worker's claim loop in burst mode, end to end on the in-memory driver: QueueService on
``sqlite:///:memory:`` (one shared connection for the worker's threads), no server, no file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stratix_queue import QueueService
from tests import memory


@pytest.fixture
def queue() -> Iterator[QueueService]:
    with QueueService(memory.MEMORY_URL) as queue:
        queue.migrate()
        yield queue


def test_a_burst_worker_runs_every_task_and_fails_the_failing_one(queue: QueueService) -> None:
    seen: list[Any] = []
    lock = threading.Lock()

    @queue.executor("ok")
    def ok(payload: Any) -> None:
        with lock:
            seen.append(payload)

    @queue.executor("bad", max_attempts=1)
    def bad(payload: Any) -> None:
        raise ValueError(f"bad payload {payload}")

    good = [queue.add_task(f"ok{i}", "ok", {"i": i}) for i in range(5)]
    failing = queue.add_task("bad", "bad", 7)
    stats = queue.run_worker(concurrency=2, burst=True, poll_interval=0.05)

    assert (stats.succeeded, stats.failed, stats.retried, stats.lost) == (5, 1, 0, 0)
    assert sorted(item["i"] for item in seen) == list(range(5))  # each ran once
    assert {status: n for status, n in queue.count_by_status().items() if n} == {"failed": 1}
    rows = memory.query(queue.backend, "SELECT id, attempts FROM queue_success ORDER BY id")
    assert rows == [(job.id, 1) for job in good]
    failed = queue.get_task(failing.id)
    assert failed is not None
    assert (failed.status.value, failed.attempts) == ("failed", 1)
    assert failed.error_message is not None and "bad payload 7" in failed.error_message
    assert queue.list_workers() == []  # unregistered when the burst ended


def test_a_burst_worker_waits_for_the_retries_it_scheduled(queue: QueueService) -> None:
    calls: list[int] = []

    @queue.executor("flaky", max_attempts=3, backoff=0.05)
    def flaky(payload: Any) -> str:
        calls.append(payload)
        if len(calls) < 3:
            raise RuntimeError(f"attempt {len(calls)} fails")
        return "done"

    job = queue.add_task("flaky", "flaky", 1)
    stats = queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)

    assert (stats.succeeded, stats.failed, stats.retried) == (1, 0, 2)
    assert calls == [1, 1, 1]
    assert queue.get_task(job.id) is None  # moved to queue_success on its third attempt
    assert memory.query(queue.backend, "SELECT attempts FROM queue_success") == [(3,)]
    errors = queue.get_task_errors(job.id)
    assert [error.message for error in errors] == ["attempt 1 fails", "attempt 2 fails"]


def test_a_worker_on_memory_is_woken_in_process_and_watches_nothing(queue: QueueService) -> None:
    """Only this process can add to a :memory: database: an add wakes the worker at once (the
    poll interval is 5 s), and no change watcher runs (its connection would be another, empty
    database)."""
    ran = threading.Event()

    @queue.executor("ok")
    def ok(payload: Any) -> None:
        ran.set()

    worker = threading.Thread(
        target=queue.run_worker, kwargs={"concurrency": 1, "poll_interval": 5.0}, daemon=True
    )
    worker.start()
    try:
        time.sleep(0.3)  # the worker's first, empty claim is behind it
        queue.add_task("t", "ok", {})
        assert ran.wait(2.0), "the add did not wake the worker"
        names = {thread.name for thread in threading.enumerate()}
        assert not {"stratix-queue-watch", "stratix-queue-listen"} & names, names
    finally:
        queue.stop_workers()
        worker.join(10)
    assert not worker.is_alive()
