"""The completer writes every success it is given exactly once, in batches, on the real database:
successes submitted from many threads at once, while it lingers, or just before it closes; and
it lives on when the code told of a written batch fails."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence

from stratix_queue import Job, QueueService
from stratix_queue.completer import Completer
from stratix_queue.params import ClaimParams

N = 300
THREADS = 6


def _claimed(queue: QueueService, n: int) -> list[Job]:
    queue.add_tasks([{"name": "t", "executor": "e", "payload": {"i": i}} for i in range(n)])
    params = ClaimParams(worker_id="w:1:x", lease_token="tok", limit=n, lease_seconds=60.0)
    jobs = queue.backend.claim(params)
    assert len(jobs) == n
    return jobs


def _completer(
    queue: QueueService, on_result: Callable[[Sequence[Job], set[int]], None]
) -> Completer:
    completer = Completer(queue.repository.move_many_to_success, on_result)
    completer.start()
    return completer


def test_successes_from_many_threads_are_each_written_once(queue: QueueService) -> None:
    jobs = _claimed(queue, N)
    told: Counter[int] = Counter()
    batches: list[int] = []

    def on_result(done: Sequence[Job], moved: set[int]) -> None:
        batches.append(len(done))
        told.update(moved)

    completer = _completer(queue, on_result)

    def submit_all(part: list[Job]) -> None:
        for job in part:
            completer.submit(job, 1)

    threads = [
        threading.Thread(target=submit_all, args=(jobs[i::THREADS],)) for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    completer.close()  # writes what is still waiting
    assert told == Counter({job.id: 1 for job in jobs})
    assert sum(batches) == N and len(batches) < N  # batched, not one write per success
    assert not any(queue.count_by_status().values())
    assert completer.pending() == []


def test_a_success_submitted_after_a_quiet_spell_is_written_without_close(
    queue: QueueService,
) -> None:
    first, second = _claimed(queue, 2)
    written = threading.Event()
    seen: list[int] = []

    def on_result(done: Sequence[Job], moved: set[int]) -> None:
        seen.extend(moved)
        written.set()

    completer = _completer(queue, on_result)
    try:
        completer.submit(first, 1)
        assert written.wait(10)
        written.clear()
        completer.submit(second, 1)  # the thread is asleep again: this one must wake it
        assert written.wait(10)
        assert seen == [first.id, second.id]
    finally:
        completer.close()


def test_the_completer_lives_on_when_told_of_a_batch_fails(queue: QueueService) -> None:
    first, *rest = _claimed(queue, 20)
    calls: list[int] = []
    failed_once = threading.Event()

    def on_result(done: Sequence[Job], moved: set[int]) -> None:
        calls.append(len(moved))
        if not failed_once.is_set():
            failed_once.set()
            raise RuntimeError("the worker's bookkeeping broke")

    completer = _completer(queue, on_result)
    completer.submit(first, 1)
    assert failed_once.wait(10)
    for job in rest:
        completer.submit(job, 1)
    completer.close()
    assert sum(calls) == 20
    assert not any(queue.count_by_status().values())
