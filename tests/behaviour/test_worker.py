"""The first worker: runs executors, records success and failure, honours priority and delay."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from stratix_queue import Job, JobStatus, QueueService
from tests import dbs


class CodedError(Exception):
    code = "E_CODED"


def test_sync_and_async_executors_run_and_succeed(queue: QueueService, db_url: str) -> None:
    seen: list[tuple[str, Any, int]] = []

    @queue.executor("sync")
    def sync_exec(payload: dict[str, Any], job: Job) -> None:
        seen.append(("sync", payload, job.id))

    @queue.executor("async")
    async def async_exec(payload: dict[str, Any], job: Job) -> None:
        await asyncio.sleep(0.01)
        seen.append(("async", payload, job.id))

    a = queue.add_task(name="a", executor="sync", payload={"n": 1})
    b = queue.add_task(name="b", executor="async", payload={"n": 2})
    stats = queue.run_worker(concurrency=2, burst=True)
    assert (stats.succeeded, stats.failed) == (2, 0)
    assert sorted(seen) == [("async", {"n": 2}, b.id), ("sync", {"n": 1}, a.id)]
    assert queue.get_task(a.id) is None and queue.get_task(b.id) is None
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 2
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 0


def test_executor_taking_only_the_payload(queue: QueueService) -> None:
    got: list[Any] = []
    queue.register_executor("one", got.append)
    queue.add_task(name="n", executor="one", payload={"only": "payload"})
    queue.run_worker(concurrency=1, burst=True)
    assert got == [{"only": "payload"}]


def test_failure_records_message_stack_and_code(queue: QueueService) -> None:
    @queue.executor("coded")
    def coded(payload: Any, job: Job) -> None:
        raise CodedError("has a code")

    @queue.executor("plain")
    def plain(payload: Any, job: Job) -> None:
        raise KeyError("missing")

    coded_job = queue.add_task(name="c", executor="coded")
    plain_job = queue.add_task(name="p", executor="plain")
    stats = queue.run_worker(concurrency=2, burst=True)
    assert stats.failed == 2
    c = queue.get_task(coded_job.id)
    p = queue.get_task(plain_job.id)
    assert c is not None and p is not None
    assert c.status is JobStatus.FAILED and c.error_code == "E_CODED"
    assert c.error_message == "has a code"
    assert (
        c.error_stack is not None and "Traceback" in c.error_stack and "CodedError" in c.error_stack
    )
    assert p.error_code == "KeyError" and p.error_message == "'missing'"
    assert c.attempts == 1


def test_unknown_executor_fails_with_executor_not_found(queue: QueueService) -> None:
    job = queue.add_task(name="orphan", executor="nobody")
    queue.run_worker(concurrency=1, burst=True)
    failed = queue.get_task(job.id)
    assert failed is not None and failed.is_failed()
    assert failed.error_code == "EXECUTOR_NOT_FOUND"
    assert failed.error_message is not None and "nobody" in failed.error_message


def test_higher_priority_first_then_arrival_order(queue: QueueService) -> None:
    order: list[str] = []
    queue.register_executor("rec", lambda payload, job: order.append(job.name))
    queue.add_tasks(
        [
            {"name": "low1", "executor": "rec", "priority": 0},
            {"name": "high1", "executor": "rec", "priority": 10},
            {"name": "low2", "executor": "rec", "priority": 0},
            {"name": "mid", "executor": "rec", "priority": 5},
            {"name": "high2", "executor": "rec", "priority": 10},
            {"name": "neg", "executor": "rec", "priority": -3},
        ]
    )
    queue.run_worker(concurrency=1, burst=True)
    assert order == ["high1", "high2", "mid", "low1", "low2", "neg"]


def test_delayed_task_waits_until_due(queue: QueueService) -> None:
    ran: list[int] = []
    queue.register_executor("rec", lambda payload, job: ran.append(job.id))
    later = queue.add_task(name="later", executor="rec", delay=3600)
    soon = queue.add_task(name="soon", executor="rec", delay=0.3)
    now = queue.add_task(name="now", executor="rec")
    queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    assert ran == [now.id]
    time.sleep(0.4)
    queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    assert ran == [now.id, soon.id]
    still = queue.get_task(later.id)
    assert still is not None and still.status is JobStatus.DELAYED


def test_attempts_and_retries_until_max_attempts(queue: QueueService) -> None:
    calls: list[int] = []

    @queue.executor("flaky", max_attempts=3, backoff=0.05)
    def flaky(payload: Any, job: Job) -> None:
        calls.append(job.attempts)
        raise RuntimeError(f"attempt {job.attempts}")

    job = queue.add_task(name="f", executor="flaky")
    stats = queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    assert calls == [1, 2, 3]
    assert (stats.retried, stats.failed) == (2, 1)
    failed = queue.get_task(job.id)
    assert failed is not None and failed.is_failed() and failed.attempts == 3
    assert failed.error_message == "attempt 3"


def test_a_retry_that_succeeds(queue: QueueService) -> None:
    calls: list[int] = []

    @queue.executor("second_time_lucky", max_attempts=2, backoff=0)
    def lucky(payload: Any, job: Job) -> None:
        calls.append(job.attempts)
        if job.attempts == 1:
            raise RuntimeError("first time")

    job = queue.add_task(name="f", executor="second_time_lucky")
    stats = queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    assert calls == [1, 2] and stats.succeeded == 1 and queue.get_task(job.id) is None


def test_a_retried_failed_task_runs_again(queue: QueueService) -> None:
    broken = {"yes": True}
    runs: list[int] = []

    @queue.executor("fixable")
    def fixable(payload: Any, job: Job) -> None:
        runs.append(job.id)
        if broken["yes"]:
            raise ValueError("not yet")

    job = queue.add_task(name="f", executor="fixable")
    queue.run_worker(concurrency=1, burst=True)
    assert queue.get_failed_tasks()[0].id == job.id
    broken["yes"] = False
    assert queue.retry_failed_task(job.id)
    stats = queue.run_worker(concurrency=1, burst=True)
    assert stats.succeeded == 1 and runs == [job.id, job.id]
    assert queue.get_task(job.id) is None and queue.get_failed_tasks() == []


def test_paused_group_does_not_run_until_resumed(queue: QueueService) -> None:
    ran: list[str] = []
    queue.register_executor("rec", lambda payload, job: ran.append(job.name))
    queue.add_task(name="r1", executor="rec", group="reports")
    queue.add_task(name="r2", executor="rec", group="reports", delay=3600)
    queue.add_task(name="other", executor="rec", group="mail")
    assert queue.pause_group("reports") == 2
    queue.add_task(name="r3", executor="rec", group="reports")  # added while paused
    counts = queue.count_by_status()
    assert counts["paused"] == 3
    queue.run_worker(concurrency=2, burst=True)
    assert ran == ["other"]
    assert queue.resume_group("reports") == 3
    counts = queue.count_by_status()
    assert (counts["waiting"], counts["delayed"], counts["paused"]) == (2, 1, 0)
    queue.run_worker(concurrency=2, burst=True)
    assert sorted(ran) == ["other", "r1", "r3"]


def test_a_task_left_runnable_in_a_paused_group_is_not_run(
    queue: QueueService, db_url: str
) -> None:
    # What a race leaves behind: an add_task whose insert read its group as active and committed
    # after pause_group had paused the group's tasks (waiting), a retry scheduled while the group
    # was being paused that has fallen due (delayed, due). Neither may run while it is paused.
    ran: list[str] = []
    queue.register_executor("rec", lambda payload, job: ran.append(job.name))
    raced = queue.add_task(name="raced", executor="rec", group="reports")
    retry = queue.add_task(name="retry", executor="rec", group="reports", delay=3600)
    queue.add_task(name="other", executor="rec", group="mail")
    queue.pause_group("reports")
    dbs.query(db_url, "UPDATE queue_jobs SET status = 'waiting' WHERE id = %s", [raced.id])
    dbs.query(
        db_url,
        "UPDATE queue_jobs SET status = 'delayed', run_at = '2000-01-01 00:00:00' WHERE id = %s",
        [retry.id],
    )
    stats = queue.run_worker(concurrency=2, burst=True)  # a burst ends: nothing of it can run
    assert ran == ["other"] and stats.succeeded == 1
    assert queue.count_by_status()["paused"] == 2  # put back where the pause meant them to be
    assert queue.resume_group("reports") == 2
    queue.run_worker(concurrency=2, burst=True)
    assert sorted(ran) == ["other", "raced", "retry"]


def test_retry_into_a_paused_group_stays_paused(queue: QueueService) -> None:
    job = queue.add_task(name="n", executor="e", group="g")
    queue.repository.mark_as_failed(job, {"message": "m", "stack": "", "code": "C"})
    queue.pause_group("g")
    assert queue.retry_failed_task(job.id) is True
    stored = queue.get_task(job.id)
    assert stored is not None and stored.status is JobStatus.PAUSED


def test_concurrency_runs_tasks_in_parallel(queue: QueueService) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    @queue.executor("slow")
    def slow(payload: Any, job: Job) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)
        with lock:
            active -= 1

    queue.add_tasks([{"name": "s", "executor": "slow"} for _ in range(8)])
    stats = queue.run_worker(concurrency=4, burst=True)
    assert stats.succeeded == 8 and peak == 4


def test_executor_sees_the_callers_module_state(queue: QueueService) -> None:
    state = {"counter": 0}

    @queue.executor("inc")
    def inc(payload: Any, job: Job) -> None:
        state["counter"] += payload["by"]

    queue.add_tasks([{"name": "i", "executor": "inc", "payload": {"by": n}} for n in range(1, 5)])
    queue.run_worker(concurrency=2, burst=True)
    assert state["counter"] == 10


def test_long_running_worker_picks_up_new_tasks_and_stops(queue: QueueService) -> None:
    done = threading.Event()
    queue.register_executor("signal", lambda payload, job: done.set())
    worker = threading.Thread(
        target=queue.run_worker, kwargs={"concurrency": 2, "poll_interval": 120.0}
    )
    worker.start()
    try:
        time.sleep(0.2)  # the worker has polled once and is now idle for 120 s
        queue.add_task(name="wake", executor="signal")
        # only the in-process wake-up can run it before the next poll
        assert done.wait(30)
    finally:
        queue.stop_workers()
        worker.join(10)
    assert not worker.is_alive()


@pytest.mark.parametrize("concurrency", [0, -1, "4"])
def test_bad_concurrency(queue: QueueService, concurrency: Any) -> None:
    from stratix_queue import InvalidInputError

    with pytest.raises(InvalidInputError):
        queue.run_worker(concurrency=concurrency, burst=True)


def test_burst_runs_a_delayed_task_that_falls_due_meanwhile(queue: QueueService) -> None:
    ran: list[str] = []

    @queue.executor("rec")
    def rec(payload: Any, job: Job) -> None:
        if job.name == "long":
            time.sleep(0.6)
        ran.append(job.name)

    queue.add_task(name="long", executor="rec")
    queue.add_task(name="soon", executor="rec", delay=0.2)
    queue.run_worker(concurrency=1, burst=True, poll_interval=5.0)
    assert ran == ["long", "soon"]


class AsyncCallable:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def __call__(self, payload: Any, job: Job) -> None:
        await asyncio.sleep(0)
        self.seen.append(payload)


def test_async_callable_objects_and_coroutine_returning_functions_are_awaited(
    queue: QueueService,
) -> None:
    obj = AsyncCallable()
    queue.register_executor("obj", obj)
    later: list[Any] = []

    async def record(payload: Any) -> None:
        later.append(payload)

    queue.register_executor("lam", lambda payload: record(payload))
    queue.add_task(name="a", executor="obj", payload={"a": 1})
    queue.add_task(name="b", executor="lam", payload={"b": 2})
    stats = queue.run_worker(concurrency=2, burst=True)
    assert stats.succeeded == 2
    assert obj.seen == [{"a": 1}]
    assert later == [{"b": 2}]


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_an_exception_that_cannot_be_printed_is_still_recorded(queue: QueueService) -> None:
    def explode(payload: Any) -> None:
        raise UnprintableError

    queue.register_executor("explode", explode)
    job = queue.add_task(name="x", executor="explode")
    stats = queue.run_worker(concurrency=1, burst=True)
    stored = queue.get_task(job.id)
    assert stats.failed == 1
    assert stored is not None and stored.is_failed()
    assert stored.error_code == "UnprintableError"
    assert stored.error_message == "<unprintable UnprintableError>"
