"""Leases, rescue, attempt history, worker registry and group-restricted workers, in process."""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
from typing import Any

import pytest

from stratix_queue import InvalidInputError, Job, JobStatus, QueueService
from stratix_queue.backends.arguments import ClaimParams, WorkerRecord
from tests import dbs


def _claim(queue: QueueService, lease: float, token: str = "tok", limit: int = 10) -> list[Job]:
    return queue.backend.claim(
        ClaimParams(worker_id="ghost:1:x", lease_token=token, limit=limit, lease_seconds=lease)
    )


def test_each_attempt_error_is_kept_in_the_history(queue: QueueService) -> None:
    @queue.executor("flaky", max_attempts=3, backoff=0)
    def flaky(payload: Any, job: Job) -> None:
        if job.attempts < 3:
            raise ValueError(f"attempt {job.attempts} broke")

    job = queue.add_task(name="f", executor="flaky")
    stats = queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    assert stats.succeeded == 1
    history = queue.get_task_errors(job.id)
    assert [(e.attempt, e.code, e.message) for e in history] == [
        (1, "ValueError", "attempt 1 broke"),
        (2, "ValueError", "attempt 2 broke"),
    ]
    assert all(e.stack and "ValueError" in e.stack for e in history)
    assert all(e.worker_id and e.failed_at for e in history)
    assert queue.get_task_errors(987654321) == []


def test_an_expired_lease_is_rescued_and_the_attempt_counted(queue: QueueService) -> None:
    ran: list[int] = []
    queue.register_executor("rec", lambda payload, job: ran.append(job.attempts))
    job = queue.add_task(name="r", executor="rec", max_attempts=2)
    [claimed] = _claim(queue, lease=0.2)  # a worker that started it, then vanished
    assert claimed.id == job.id and claimed.attempts == 1
    assert queue.backend.mark_started([(claimed.id, str(claimed.lease_token))]) == 1
    time.sleep(0.4)
    queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)  # rescues at start
    assert ran == [2]
    assert queue.get_task(job.id) is None
    [lost] = queue.get_task_errors(job.id)
    assert (lost.attempt, lost.code, lost.worker_id) == (1, "WORKER_LOST", "ghost:1:x")


def test_a_lost_task_out_of_attempts_fails_with_worker_lost(queue: QueueService) -> None:
    job = queue.add_task(name="r", executor="rec")
    [claimed] = _claim(queue, lease=0.1)
    assert queue.backend.mark_started([(claimed.id, str(claimed.lease_token))]) == 1
    time.sleep(0.3)
    queue.run_worker(concurrency=1, burst=True)
    failed = queue.get_task(job.id)
    assert failed is not None and failed.is_failed()
    assert (failed.error_code, failed.attempts) == ("WORKER_LOST", 1)
    assert queue.retry_failed_task(job.id)


def test_a_lost_task_that_never_started_goes_back_uncounted(queue: QueueService) -> None:
    """A task that waited in a lost worker's buffer was never an attempt: it goes back to
    waiting with its attempts as before, no history row, and WORKER_LOST on it, so that the
    next worker writes its start before running it."""
    ran: list[tuple[int, str | None]] = []
    queue.register_executor("rec", lambda payload, job: ran.append((job.attempts, job.error_code)))
    job = queue.add_task(name="r", executor="rec")  # max_attempts 1: counting it would fail it
    [claimed] = _claim(queue, lease=0.1)
    started = queue.backend.mark_started([(claimed.id, "another-token")])
    assert started == 0  # fenced by the lease token
    time.sleep(0.3)
    assert [row["started"] for row in queue.backend.rescue_expired("lost", "unstarted")] == [0]
    back = queue.get_task(job.id)
    assert back is not None and (back.status, back.attempts) == (JobStatus.WAITING, 0)
    assert (back.error_code, back.error_message) == ("WORKER_LOST", "unstarted")
    assert queue.get_task_errors(job.id) == []
    queue.run_worker(concurrency=1, burst=True)
    assert ran == [(1, "WORKER_LOST")]
    assert queue.get_task(job.id) is None


def test_a_live_lease_is_not_rescued_and_heartbeat_extends_it(queue: QueueService) -> None:
    job = queue.add_task(name="r", executor="rec")
    [claimed] = _claim(queue, lease=30)
    queue.run_worker(concurrency=1, burst=True)
    still = queue.get_task(job.id)
    assert still is not None and still.status is JobStatus.EXECUTING
    before = still.locked_until
    assert claimed.lease_token is not None
    assert queue.backend.heartbeat(300, [(job.id, "another-token")]) == 0  # fenced by token
    assert queue.backend.heartbeat(300, [(job.id, claimed.lease_token)]) == 1
    renewed = queue.get_task(job.id)
    assert renewed is not None and before is not None and renewed.locked_until is not None
    assert renewed.locked_until - before > datetime.timedelta(seconds=200)
    assert claimed.lease_token == renewed.lease_token


def test_release_claim_and_give_back_do_not_count_the_attempt(queue: QueueService) -> None:
    first, second = queue.add_tasks(
        [{"name": "a", "executor": "e"}, {"name": "b", "executor": "e"}]
    )
    claimed = _claim(queue, lease=30, token="lost-reply", limit=1)
    assert [job.id for job in claimed] == [first.id]
    assert queue.backend.release_claim("lost-reply") == 1
    assert queue.backend.release_claim("lost-reply") == 0
    back = queue.get_task(first.id)
    assert back is not None and (back.status, back.attempts) == (JobStatus.WAITING, 0)
    [again] = _claim(queue, lease=30, token="t2", limit=1)
    assert queue.backend.give_back(again) is True
    assert queue.backend.give_back(again) is False  # fenced: no longer executing
    given = queue.get_task(again.id)
    assert given is not None and (given.status, given.attempts, given.lease_token) == (
        JobStatus.WAITING,
        0,
        None,
    )
    assert queue.get_task(second.id) is not None


def test_a_worker_restricted_to_groups(queue: QueueService) -> None:
    ran: list[str] = []
    queue.register_executor("rec", lambda payload, job: ran.append(job.name))
    queue.add_tasks(
        [
            {"name": "a1", "executor": "rec", "group": "a"},
            {"name": "b1", "executor": "rec", "group": "b"},
            {"name": "none", "executor": "rec"},
            {"name": "c1", "executor": "rec", "group": "c"},
        ]
    )
    queue.run_worker(concurrency=1, burst=True, groups=["a", "c"])
    assert sorted(ran) == ["a1", "c1"]
    queue.run_worker(concurrency=1, burst=True)
    assert sorted(ran) == ["a1", "b1", "c1", "none"]
    with pytest.raises(InvalidInputError):
        queue.run_worker(burst=True, groups=[])


def test_per_task_timeout_is_stored_and_validated(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="t", executor="e", timeout=2.5)
    assert job.timeout == 2.5
    for bad in (0, -1, "5 s", "0s", 10**9):  # "5" is 5 s, as on the command line
        with pytest.raises(InvalidInputError):
            queue.add_task(name="t", executor="e", timeout=bad)
    assert queue.add_task(name="t", executor="e", timeout="5").timeout == 5.0
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 2


def test_thread_timeout_fails_the_attempt(queue: QueueService) -> None:
    release = threading.Event()

    @queue.executor("stuck", timeout=0.3)
    def stuck(payload: Any) -> None:
        release.wait(10)

    job = queue.add_task(name="s", executor="stuck")
    try:
        stats = queue.run_worker(concurrency=1, burst=True)
    finally:
        release.set()
    failed = queue.get_task(job.id)
    assert stats.failed == 1
    assert failed is not None and failed.error_code == "TIMEOUT"


def test_workers_register_while_running(queue: QueueService) -> None:
    seen: list[list[str]] = []

    @queue.executor("look")
    def look(payload: Any) -> None:
        seen.append([w.id for w in queue.list_workers()])

    queue.add_task(name="l", executor="look")
    queue.run_worker(concurrency=3, burst=True)
    assert len(seen) == 1 and len(seen[0]) == 1
    worker_id = seen[0][0]
    host, pid, _ = worker_id.split(":")
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    assert queue.list_workers() == []  # unregistered on exit


def test_batched_success_moves_only_rows_still_held(queue: QueueService, db_url: str) -> None:
    jobs = queue.add_tasks([{"name": f"b{i}", "executor": "e"} for i in range(4)])
    claimed = _claim(queue, lease=30, token="batch", limit=4)
    assert len(claimed) == 4
    stale = claimed[3]
    assert queue.backend.release_claim("batch") == 4  # all four lose this lease ...
    regained = _claim(queue, lease=30, token="batch2", limit=3)  # ... three are held again
    moved = queue.repository.move_many_to_success([(job, 5) for job in regained] + [(stale, 5)])
    assert moved == {job.id for job in regained}
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 3
    assert dbs.scalar(db_url, "SELECT MAX(execution_time) FROM queue_success") == 5
    left = queue.get_task(jobs[3].id)
    assert left is not None and left.status is JobStatus.WAITING
    assert queue.repository.move_many_to_success([(stale, 1)]) == set()


def test_prune_also_ages_out_the_history_of_tasks_that_left(
    queue: QueueService, db_url: str
) -> None:
    @queue.executor("twice", max_attempts=2, backoff=0)
    def twice(payload: Any, job: Job) -> None:
        if job.attempts == 1:
            raise ValueError("first")

    done = queue.add_task(name="done", executor="twice")
    kept = queue.add_task(name="kept", executor="e")
    queue.repository.mark_as_failed(kept, {"message": "m", "stack": None, "code": "C"})
    queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    dbs.query(db_url, "UPDATE queue_job_errors SET failed_at = '2020-01-01 00:00:00'")
    dbs.query(db_url, "UPDATE queue_success SET completed_at = '2020-01-01 00:00:00'")
    assert queue.prune_succeeded(86400, dry_run=True) == 1
    assert len(queue.get_task_errors(done.id)) == 1  # a dry run deletes nothing
    assert queue.prune_succeeded(86400) == 1
    assert queue.get_task_errors(done.id) == []
    assert [e.code for e in queue.get_task_errors(kept.id)] == ["C"]  # still in queue_jobs


def test_ids_start_at_one_on_a_fresh_database(fresh_url: str) -> None:
    with QueueService(fresh_url) as fresh:
        fresh.migrate()
        assert fresh.add_task(name="first", executor="e").id == 1


def test_an_async_executors_own_timeout_error_is_not_a_task_timeout(queue: QueueService) -> None:
    async def upstream(payload: Any) -> None:
        raise TimeoutError("upstream api did not answer")

    queue.register_executor("upstream", upstream, timeout=30)
    job = queue.add_task(name="u", executor="upstream")
    queue.run_worker(concurrency=1, burst=True)
    failed = queue.get_task(job.id)
    assert failed is not None
    assert (failed.error_code, failed.error_message) == (
        "TimeoutError",
        "upstream api did not answer",
    )
    assert failed.error_stack and "TimeoutError" in failed.error_stack


def test_a_batch_with_a_lost_lease_and_the_current_one_moves_the_task_once(
    queue: QueueService, db_url: str
) -> None:
    """A worker that lost a task's lease and claimed it again may finish both attempts in one
    batch: only the current lease's success moves the task."""
    job = queue.add_task(name="twice", executor="e")
    [old] = _claim(queue, lease=60, token="old")
    assert queue.backend.release_claim("old") == 1
    [current] = _claim(queue, lease=60, token="new")
    assert old.id == current.id == job.id
    moved = queue.repository.move_many_to_success([(old, 1), (current, 2)])
    assert moved == {job.id}
    assert queue.get_task(job.id) is None
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 1


def test_workers_and_stats_tell_running_tasks_from_prefetched_ones(queue: QueueService) -> None:
    """A claim holds tasks for its worker; those whose start is written are running, the others
    wait in its buffer (or have only just begun)."""
    record = WorkerRecord("ghost:1:x", "h", 1, 1, None)
    queue.backend.register_worker(record)
    queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(3)])
    first, *_ = _claim(queue, lease=30)
    assert queue.backend.mark_started([(first.id, str(first.lease_token))]) == 1
    [worker] = queue.list_workers()
    assert (worker.running, worker.prefetched) == (1, 2)
    stats = queue.queue_stats()
    assert (stats.counts["executing"], stats.running, stats.prefetched) == (3, 1, 2)
