"""The success batcher (outcomes.py) writes every success it is given exactly once, in batches, on
the real database: successes submitted from many threads at once, while it lingers, or just
before it closes; and it lives on when the code told of a written batch fails. The outcome writer
counts what became of each outcome, and retries contention itself."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from stratix_queue import Job, QueueService, TransientDatabaseError
from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.outcomes import Done, OutcomeWriter, SuccessBatcher, WorkerStats
from stratix_queue.validation import error_data

T = TypeVar("T")

N = 300
THREADS = 6


def _claimed(queue: QueueService, n: int) -> list[Job]:
    queue.add_tasks([{"name": "t", "executor": "e", "payload": {"i": i}} for i in range(n)])
    params = ClaimParams(worker_id="w:1:x", lease_token="tok", limit=n, lease_seconds=60.0)
    jobs = queue.backend.claim(params)
    assert len(jobs) == n
    return jobs


def _batcher(
    queue: QueueService, on_result: Callable[[Sequence[Job], set[int]], None]
) -> SuccessBatcher:
    """A batcher that writes each batch, then tells ``on_result`` of it (the writer counts)."""

    def write(batch: list[Done]) -> None:
        moved = queue.repository.move_many_to_success(batch)
        on_result([job for job, _ in batch], moved)

    batcher = SuccessBatcher(write)
    batcher.start()
    return batcher


def test_successes_from_many_threads_are_each_written_once(queue: QueueService) -> None:
    jobs = _claimed(queue, N)
    told: Counter[int] = Counter()
    batches: list[int] = []

    def on_result(done: Sequence[Job], moved: set[int]) -> None:
        batches.append(len(done))
        told.update(moved)

    batcher = _batcher(queue, on_result)

    def submit_all(part: list[Job]) -> None:
        for job in part:
            batcher.submit(job, 1)

    threads = [
        threading.Thread(target=submit_all, args=(jobs[i::THREADS],)) for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()  # writes what is still waiting
    assert told == Counter({job.id: 1 for job in jobs})
    assert sum(batches) == N and len(batches) < N  # batched, not one write per success
    assert not any(queue.count_by_status().values())
    assert batcher.pending() == []


def test_a_success_submitted_after_a_quiet_spell_is_written_without_close(
    queue: QueueService,
) -> None:
    first, second = _claimed(queue, 2)
    written = threading.Event()
    seen: list[int] = []

    def on_result(done: Sequence[Job], moved: set[int]) -> None:
        seen.extend(moved)
        written.set()

    batcher = _batcher(queue, on_result)
    try:
        batcher.submit(first, 1)
        assert written.wait(10)
        written.clear()
        batcher.submit(second, 1)  # the thread is asleep again: this one must wake it
        assert written.wait(10)
        assert seen == [first.id, second.id]
    finally:
        batcher.close()


def test_the_batcher_lives_on_when_told_of_a_batch_fails(queue: QueueService) -> None:
    first, *rest = _claimed(queue, 20)
    calls: list[int] = []
    failed_once = threading.Event()

    def on_result(done: Sequence[Job], moved: set[int]) -> None:
        calls.append(len(moved))
        if not failed_once.is_set():
            failed_once.set()
            raise RuntimeError("the worker's bookkeeping broke")

    batcher = _batcher(queue, on_result)
    batcher.submit(first, 1)
    assert failed_once.wait(10)
    for job in rest:
        batcher.submit(job, 1)
    batcher.close()
    assert sum(calls) == 20
    assert not any(queue.count_by_status().values())


def _writer(queue: QueueService) -> OutcomeWriter:
    writer = OutcomeWriter(queue.repository, WorkerStats())
    writer.start()
    return writer


def test_the_writer_counts_each_outcome_and_a_write_that_found_nothing_as_lost(
    queue: QueueService, caplog: pytest.LogCaptureFixture
) -> None:
    ok, failed, retried, given, gone = _claimed(queue, 5)
    writer = _writer(queue)
    error = error_data("boom", None, "E")
    stale = replace(gone, lease_token="not-its-lease")
    with caplog.at_level(logging.WARNING, logger="stratix_queue"):
        writer.succeeded(ok, 1)
        writer.succeeded(stale, 1)
        assert writer.wait_idle(10)
        assert writer.failed(failed, error)
        assert writer.retry(retried, error, 60.0)
        assert writer.give_back(given)
        assert not writer.failed(stale, error)
    writer.close()
    stats = writer.stats
    assert (stats.succeeded, stats.failed, stats.retried, stats.given_back) == (1, 1, 1, 1)
    assert stats.lost == 2
    assert caplog.text.count(f"task {gone.id} (t) is no longer held by this worker") == 2


def test_the_writer_retries_contention_itself(
    queue: QueueService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend may leave a deadlock victim to its caller: the writer tries again."""
    job, done = _claimed(queue, 2)
    writer = _writer(queue)
    real = queue.repository.mark_as_failed, queue.repository.move_many_to_success
    left = {"failed": 3, "moved": 3}

    def contended(what: str, call: Callable[..., T]) -> Callable[..., T]:
        def once(*args: Any) -> T:
            if left[what]:
                left[what] -= 1
                raise TransientDatabaseError("deadlock (simulated victim)")
            return call(*args)

        return once

    monkeypatch.setattr(queue.repository, "mark_as_failed", contended("failed", real[0]))
    monkeypatch.setattr(queue.repository, "move_many_to_success", contended("moved", real[1]))
    assert writer.failed(job, error_data("boom", None, "E"))
    writer.succeeded(done, 1)
    writer.close()
    assert (writer.stats.failed, writer.stats.succeeded, writer.stats.lost) == (1, 1, 0)
    assert left == {"failed": 0, "moved": 0}
