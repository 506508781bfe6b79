"""Invariants that the rest of the suite could lose while staying green (issue 13, point 7).

A write about a task is all or nothing even when a later statement of it fails; it is fenced by
the lease token as well as the status; the claim itself skips a paused group; the failed list,
its stats, a manual retry and the backoff between attempts are what the README says. Faults are
injected in the real database with a trigger that this test creates and drops.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from stratix_queue import DatabaseError, Job, JobStatus, QueueService
from stratix_queue.backends.arguments import ClaimParams, ErrorData
from stratix_queue.urls import parse_url
from tests import dbs

ERROR = ErrorData("boom", "Traceback ...\nValueError: boom", "E_BOOM")
FAULT = "injected fault"


def _claim(
    queue: QueueService, count: int = 1, token: str = "lease-1", groups: Sequence[str] | None = None
) -> list[Job]:
    return queue.backend.claim(
        ClaimParams(
            worker_id="test:1:x",
            lease_token=token,
            limit=count,
            lease_seconds=30,
            groups=None if groups is None else tuple(groups),
        )
    )


def _executing(queue: QueueService, count: int) -> list[Job]:
    """``count`` tasks claimed under one lease, as a worker holds them."""
    added = queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(count)])
    claimed = _claim(queue, count)
    assert sorted(job.id for job in claimed) == [job.id for job in added]
    return claimed


def _snapshot(url: str, ids: Sequence[int]) -> list[list[tuple[Any, ...]]]:
    """All the database holds about these tasks: rows in queue_jobs, queue_success and the
    attempt history."""
    marks = ", ".join(["%s"] * len(ids))
    return [
        sorted(dbs.query(url, f"SELECT * FROM {table} WHERE {column} IN ({marks})", ids), key=repr)
        for table, column in (
            ("queue_jobs", "id"),
            ("queue_success", "id"),
            ("queue_job_errors", "job_id"),
        )
    ]


@contextmanager
def _fault(url: str, table: str, event: str, task_id: int) -> Iterator[None]:
    """A trigger that makes ``event`` (INSERT, UPDATE, DELETE) on ``table`` fail for one task."""
    dialect = parse_url(url).dialect
    row = "NEW" if event == "INSERT" else "OLD"
    when = f"{row}.{'job_id' if table == 'queue_job_errors' else 'id'} = {int(task_id)}"
    head = f"CREATE TRIGGER stratix_test_fault BEFORE {event} ON {table} FOR EACH ROW"
    drop = ["DROP TRIGGER IF EXISTS stratix_test_fault"]
    if dialect == "sqlite":
        dbs.query(url, f"{head} WHEN {when} BEGIN SELECT RAISE(ABORT, '{FAULT}'); END")
    elif dialect == "postgres":
        dbs.query(
            url,
            "CREATE OR REPLACE FUNCTION stratix_test_fault() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN RAISE EXCEPTION '{FAULT}'; END $$",
        )
        dbs.query(url, f"{head} WHEN ({when}) EXECUTE FUNCTION stratix_test_fault()")
        drop = [f"{drop[0]} ON {table}", "DROP FUNCTION IF EXISTS stratix_test_fault()"]
    else:
        dbs.query(
            url,
            f"{head} IF {when} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{FAULT}'; END IF",
        )
    try:
        yield
    finally:
        for statement in drop:
            dbs.query(url, statement)


# -- 1. a write that fails part-way leaves no trace ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Write:
    """A write about ``tasks`` executing tasks; ``run`` says whether it applied to all."""

    tasks: int
    run: Callable[[QueueService, list[Job]], bool]
    expired: bool = False  # the rescue only takes tasks whose lease has run out (and started)


WRITES = {
    "move_to_success": Write(1, lambda q, jobs: q.repository.move_to_success(jobs[0], 5)),
    "move_many_to_success": Write(
        3,
        lambda q, jobs: (
            q.repository.move_many_to_success([(job, 5) for job in jobs])
            == {job.id for job in jobs}
        ),
    ),
    "mark_as_failed": Write(1, lambda q, jobs: q.repository.mark_as_failed(jobs[0], ERROR)),
    "retry_later": Write(1, lambda q, jobs: q.repository.retry_later(jobs[0], ERROR, 60)),
    "rescue_expired": Write(
        2,
        lambda q, jobs: len(q.backend.rescue_expired("lost", "unstarted")) == len(jobs),
        expired=True,
    ),
}
# Each write's statements, by the table and event a fault can hit. Every one is listed, so
# whichever runs second on a backend fails after the first has applied.
FAULTS = [
    pytest.param(write, table, event, id=f"{write}-{event.lower()}-{table}")
    for write, points in {
        "move_to_success": [("queue_success", "INSERT"), ("queue_jobs", "DELETE")],
        "move_many_to_success": [("queue_success", "INSERT"), ("queue_jobs", "DELETE")],
        "mark_as_failed": [("queue_job_errors", "INSERT"), ("queue_jobs", "UPDATE")],
        "retry_later": [("queue_job_errors", "INSERT"), ("queue_jobs", "UPDATE")],
        "rescue_expired": [("queue_job_errors", "INSERT"), ("queue_jobs", "UPDATE")],
    }.items()
    for table, event in points
]


@pytest.mark.parametrize(("write", "table", "event"), FAULTS)
def test_a_write_that_fails_part_way_changes_nothing(
    queue: QueueService, db_url: str, write: str, table: str, event: str
) -> None:
    spec = WRITES[write]
    jobs = _executing(queue, spec.tasks)
    ids = [job.id for job in jobs]
    if spec.expired:
        marks = ", ".join(["%s"] * len(ids))
        dbs.query(
            db_url,
            "UPDATE queue_jobs SET locked_until = '2020-01-01 00:00:00', "
            f"started_at = '2019-12-31 23:00:00' WHERE id IN ({marks})",
            ids,
        )
    before = _snapshot(db_url, ids)
    assert before[1:] == [[], []]  # no success, no history yet
    # The fault hits the last task: in a batch, the writes about the others have applied.
    with _fault(db_url, table, event, ids[-1]), pytest.raises(DatabaseError, match=FAULT):
        spec.run(queue, jobs)
    assert _snapshot(db_url, ids) == before  # still executing under their lease, no trace
    assert spec.run(queue, jobs)  # once the fault is gone the same write applies in full


# -- 2. the lease token fences every write about a task -----------------------------------------

# Each fenced write, and the status it leaves the task in (None: moved to queue_success).
FENCED: dict[str, tuple[Callable[[QueueService, Job], bool], JobStatus | None]] = {
    "move_to_success": (lambda q, job: q.repository.move_to_success(job, 5), None),
    "move_many_to_success": (
        lambda q, job: q.repository.move_many_to_success([(job, 5)]) == {job.id},
        None,
    ),
    "mark_as_failed": (lambda q, job: q.repository.mark_as_failed(job, ERROR), JobStatus.FAILED),
    "retry_later": (lambda q, job: q.repository.retry_later(job, ERROR, 60), JobStatus.DELAYED),
    "give_back": (lambda q, job: q.backend.give_back(job), JobStatus.WAITING),
}


@pytest.mark.parametrize("write", FENCED)
@pytest.mark.parametrize("token", ["another-lease", None])
def test_a_write_under_another_lease_token_is_refused(
    queue: QueueService, db_url: str, write: str, token: str | None
) -> None:
    run, status_after = FENCED[write]
    [job] = _executing(queue, 1)
    before = _snapshot(db_url, [job.id])
    # Same status, other token: a worker whose lease was lost and the task claimed again.
    impostor = dataclasses.replace(job, lease_token=token)
    assert impostor.status is JobStatus.EXECUTING
    assert run(queue, impostor) is False
    assert _snapshot(db_url, [job.id]) == before
    assert run(queue, job) is True
    after = queue.get_task(job.id)
    assert (after.status if after else None) is status_after


# -- 3. the claim skips a paused group by itself -------------------------------------------------


@pytest.mark.parametrize("groups", [None, ["paused"], ["paused", "live"]])
def test_the_claim_never_returns_a_task_of_a_paused_group(
    queue: QueueService, db_url: str, groups: list[str] | None
) -> None:
    queue.pause_group("paused")
    hidden = queue.add_task(name="hidden", executor="e", group="paused", priority=9)
    # Left waiting, as an insert that raced pause_group leaves it; promote_due does not run.
    dbs.query(db_url, "UPDATE queue_jobs SET status = 'waiting' WHERE id = %s", [hidden.id])
    live = queue.add_task(name="live", executor="e", group="live")
    claimed = [job.id for job in _claim(queue, 10, groups=groups)]
    assert hidden.id not in claimed
    if groups != ["paused"]:
        assert claimed == [live.id]  # the claim did run: it took the other group's task
    row = dbs.query(
        db_url, "SELECT status, attempts, lease_token FROM queue_jobs WHERE id = %s", [hidden.id]
    )
    assert row == [("waiting", 0, None)]


# -- 4. the failed list, its stats, a manual retry, the backoff ----------------------------------


def test_failed_tasks_are_listed_by_failure_time_not_by_id(
    queue: QueueService, db_url: str
) -> None:
    first, second, third = (queue.add_task(name=f"f{i}", executor="e") for i in range(3))
    for job, failed_at in ((first, "03"), (second, "01"), (third, "02")):
        assert queue.repository.mark_as_failed(job, ERROR)
        dbs.query(
            db_url,
            "UPDATE queue_jobs SET failed_at = %s WHERE id = %s",
            [f"2024-05-01 10:00:{failed_at}.000", job.id],
        )
    newest_first = [first.id, third.id, second.id]  # neither id order nor its reverse
    assert [job.id for job in queue.get_failed_tasks()] == newest_first
    assert [job.id for job in queue.get_failed_tasks(1, 1)] == newest_first[1:2]


def test_failed_stats_count_only_failed_tasks(queue: QueueService) -> None:
    failed = queue.add_task(name="f", executor="a", group="g1")
    assert queue.repository.mark_as_failed(failed, ERROR)
    # Between two attempts a task is delayed and keeps its last error: it has not failed.
    queue.add_task(name="r", executor="b", group="g2", max_attempts=3)
    [retried] = _claim(queue)
    assert queue.repository.retry_later(retried, ErrorData("m", None, "E_RETRY"), 60)
    stats = queue.get_failed_tasks_stats()
    assert (stats.total, stats.by_code) == (1, {"E_BOOM": 1})
    assert (stats.by_executor, stats.by_group) == ({"a": 1}, {"g1": 1})


def test_a_retried_task_gets_all_its_attempts_again(queue: QueueService) -> None:
    job = queue.add_task(name="n", executor="e", max_attempts=2)
    [first] = _claim(queue, token="lease-1")
    assert queue.repository.retry_later(first, ERROR, 0)
    queue.backend.promote_due()
    [second] = _claim(queue, token="lease-2")
    assert second.attempts == 2 and queue.repository.mark_as_failed(second, ERROR)
    assert queue.retry_failed_task(job.id)
    reset = queue.get_task(job.id)
    assert reset is not None and reset.status is JobStatus.WAITING
    assert (reset.attempts, reset.error_code, reset.error_message, reset.failed_at) == (
        0,
        None,
        None,
        None,
    )
    [again] = _claim(queue, token="lease-3")
    assert again.attempts == 1  # a first attempt of max_attempts, not a third


def _delays_written(queue: QueueService, backoff: Any, attempts: Sequence[int]) -> list[float]:
    """Run one attempt of a failing task per entry of ``attempts`` (the task's attempt number)
    through a worker, and return the delay each retry wrote: its run_at minus its updated_at,
    both the database's clock in the same statement. The last executor to start stops the
    worker, so no retry runs (and overwrites run_at) before all were written."""
    stop = threading.Barrier(len(attempts), action=queue.stop_workers, timeout=60)

    def fail(payload: Any) -> None:
        stop.wait()
        raise ValueError("this attempt fails")

    queue.register_executor("flaky", fail, max_attempts=100, backoff=backoff)
    jobs = queue.add_tasks([{"name": f"a{n}", "executor": "flaky"} for n in attempts])
    for job, attempt in zip(jobs, attempts, strict=True):
        dbs.query(
            queue.url, "UPDATE queue_jobs SET attempts = %s WHERE id = %s", [attempt - 1, job.id]
        )
    stats = queue.run_worker(concurrency=len(attempts), burst=True, poll_interval=0.05)
    assert stats.retried == len(attempts)
    delays = []
    for job in jobs:
        retried = queue.get_task(job.id)
        assert retried is not None and retried.status is JobStatus.DELAYED
        assert retried.run_at is not None and retried.updated_at is not None
        delays.append((retried.run_at - retried.updated_at).total_seconds())
    return delays


def test_the_default_backoff_doubles_from_one_second_up_to_an_hour_with_jitter(
    queue: QueueService,
) -> None:
    attempts = [1, 1, 1, 1, 2, 3, 12, 13, 20]
    delays = _delays_written(queue, None, attempts)
    for attempt, delay in zip(attempts, delays, strict=True):
        base = min(2.0 ** (attempt - 1), 3600.0)
        assert 0.9 * base - 0.002 <= delay <= 1.1 * base + 0.002, (attempt, delay)
    assert len(set(delays[:4])) > 1  # +-10% jitter: four retries of one attempt do not coincide


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [(2.5, [2.5, 2.5, 2.5]), (lambda attempt: 7.0 * attempt, [7.0, 14.0, 35.0])],
    ids=["seconds", "function"],
)
def test_an_executors_backoff_sets_the_delay(
    queue: QueueService, backoff: Any, expected: list[float]
) -> None:
    delays = _delays_written(queue, backoff, [1, 2, 5])
    assert delays == pytest.approx(expected, abs=0.002)
