"""A claimed task's outcomes, called directly: move_many_to_success, move_to_success,
mark_as_failed, retry_later, give_back (each fenced by the row's status and lease token),
rescue_expired and list_attempt_errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stratix_queue import Job, JobStatus
from stratix_queue.backends.arguments import ErrorData, RetryLater
from stratix_queue.backends.driver import Driver
from tests.backend.conftest import (
    RawSql,
    claim,
    count,
    new_job,
    now,
    stale,
    status_of,
    success_rows,
)

ERROR = ErrorData(message="boom", stack="Traceback...\nValueError: boom", code="E_BOOM")


def _claimed(driver: Driver, n: int = 1, token: str = "T", **spec: object) -> list[Job]:
    driver.insert_jobs([new_job(f"n{i}", **spec) for i in range(n)])  # type: ignore[arg-type]
    return claim(driver, token, limit=n)


def _fenced_out(job: Job) -> list[Job]:
    """The same task as seen by a holder that lost it: another token, another status."""
    return [
        stale(job, lease_token="lost"),
        stale(job, lease_token=None),
        stale(job, status=JobStatus.WAITING),
    ]


def test_move_many_to_success_moves_only_rows_held_under_their_token(
    driver: Driver, raw: RawSql
) -> None:
    a, b, c = _claimed(driver, 3)
    [w] = driver.insert_jobs([new_job("waiting")])
    assert driver.move_many_to_success([]) == set()
    moved = driver.move_many_to_success([(a, 5), (b, 7), (stale(c, lease_token="lost"), 1), (w, 1)])
    assert moved == {a.id, b.id}
    assert success_rows(raw) == [(a.id, 1, 5, True), (b.id, 1, 7, True)]
    assert driver.get_job(a.id) is None and driver.get_job(b.id) is None
    assert status_of(driver, c.id) == "executing"
    assert status_of(driver, w.id) == "waiting"
    assert driver.move_many_to_success([(a, 5)]) == set()  # gone already: nothing moves twice
    assert driver.move_many_to_success([(c, 2)]) == {c.id}
    assert count(raw, "queue_success") == 3
    assert count(raw, "queue_jobs", "id <> %s", (w.id,)) == 0


def test_move_many_to_success_fences_each_task_by_its_own_token(
    driver: Driver, raw: RawSql
) -> None:
    """Two tasks held under two tokens, reported with the tokens swapped: nothing moves."""
    [a] = _claimed(driver, 1, "T")
    [b] = _claimed(driver, 1, "U")
    swapped = [(stale(a, lease_token="U"), 1), (stale(b, lease_token="T"), 1)]
    assert driver.move_many_to_success(swapped) == set()
    assert count(raw, "queue_success") == 0
    assert driver.move_many_to_success([(b, 1), (a, 1)]) == {a.id, b.id}


def test_move_many_to_success_moves_a_task_listed_twice_once(
    backend: str, driver: Driver, raw: RawSql, request: pytest.FixtureRequest
) -> None:
    a, b = _claimed(driver, 2)
    assert driver.move_many_to_success([(a, 1), (b, 2), (a, 3)]) == {a.id, b.id}
    assert count(raw, "queue_success") == 2


def test_move_to_success_is_fenced(driver: Driver, raw: RawSql) -> None:
    [job] = _claimed(driver, payload={"p": 1}, priority=4)
    for other in _fenced_out(job):
        assert driver.move_to_success(other, 9) is False
    assert count(raw, "queue_success") == 0
    assert driver.mark_started([(job.id, "T")]) == 1
    assert driver.move_to_success(job, 12) is True
    assert driver.get_job(job.id) is None
    assert success_rows(raw) == [(job.id, 1, 12, True)]
    assert _success_columns(raw, job.id) == ("n0", "e", None, '{"p": 1}', 4)
    assert driver.move_to_success(job, 12) is False  # gone: nothing happens twice
    assert count(raw, "queue_success") == 1


def _success_columns(raw: RawSql, job_id: int) -> tuple[object, ...]:
    [row] = raw.query(
        "SELECT job_name, executor, group_name, payload, priority FROM queue_success WHERE id = %s",
        (job_id,),
    )
    return tuple(value.decode() if isinstance(value, bytes) else value for value in row)


def test_mark_as_failed_is_fenced_and_keeps_the_error(driver: Driver) -> None:
    [job] = _claimed(driver, max_attempts=3)
    for other in _fenced_out(job):
        assert driver.mark_as_failed(other, ERROR) is False
    assert driver.list_attempt_errors(job.id) == []  # the history is fenced too
    before = now()
    assert driver.mark_as_failed(job, ERROR) is True
    failed = driver.get_job(job.id)
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert (failed.error_message, failed.error_stack, failed.error_code) == (
        ERROR.message,
        ERROR.stack,
        ERROR.code,
    )
    assert failed.failed_at is not None
    assert before - timedelta(seconds=2) < failed.failed_at < now() + timedelta(seconds=2)
    assert (failed.lease_token, failed.locked_by, failed.locked_until) == (None, None, None)
    assert failed.attempts == 1
    [error] = driver.list_attempt_errors(job.id)
    assert (error["attempt"], error["error_message"], error["error_code"], error["worker_id"]) == (
        1,
        "boom",
        "E_BOOM",
        "w1",
    )
    assert driver.mark_as_failed(job, ERROR) is False  # no longer executing
    assert len(driver.list_attempt_errors(job.id)) == 1


def test_mark_as_failed_without_texts(driver: Driver) -> None:
    [job] = _claimed(driver)
    assert driver.mark_as_failed(job, ErrorData(None, None, None)) is True
    failed = driver.get_job(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert (failed.error_message, failed.error_stack, failed.error_code) == (None, None, None)


def test_retry_later_is_fenced_and_delays_the_task(driver: Driver) -> None:
    [job] = _claimed(driver, max_attempts=3)
    retry = RetryLater(error=ERROR, delay_seconds=30)
    for other in _fenced_out(job):
        assert driver.retry_later(other, retry) is False
    before = now()
    assert driver.retry_later(job, retry) is True
    later = driver.get_job(job.id)
    assert later is not None
    assert later.status is JobStatus.DELAYED
    assert later.run_at is not None
    assert before + timedelta(seconds=28) < later.run_at < now() + timedelta(seconds=32)
    assert (later.error_message, later.error_stack, later.error_code) == (
        ERROR.message,
        ERROR.stack,
        ERROR.code,
    )
    assert (later.lease_token, later.locked_by, later.locked_until) == (None, None, None)
    assert later.attempts == 1  # counted
    assert [row["attempt"] for row in driver.list_attempt_errors(job.id)] == [1]
    assert driver.retry_later(job, retry) is False
    assert driver.promote_due() == 0  # not due yet
    assert claim(driver, "U") == []


def test_retry_later_without_delay_is_due_at_once(driver: Driver) -> None:
    [job] = _claimed(driver, max_attempts=3)
    assert driver.retry_later(job, RetryLater(error=ERROR, delay_seconds=0)) is True
    assert status_of(driver, job.id) == "delayed"
    assert driver.promote_due() == 1
    [again] = claim(driver, "U")
    assert (again.id, again.attempts) == (job.id, 2)
    assert again.error_code == "E_BOOM"  # the last error stays until the next outcome
    assert driver.mark_as_failed(again, ErrorData("second", None, "E2")) is True
    errors = driver.list_attempt_errors(job.id)
    assert [(row["attempt"], row["error_code"]) for row in errors] == [(1, "E_BOOM"), (2, "E2")]


def test_give_back_is_fenced_and_uncounts_the_attempt(driver: Driver) -> None:
    a, b = _claimed(driver, 2, group="g")
    for other in _fenced_out(a):
        assert driver.give_back(other) is False
    assert driver.give_back(a) is True
    back = driver.get_job(a.id)
    assert back is not None
    assert (back.status, back.attempts, back.lease_token, back.locked_by, back.locked_until) == (
        JobStatus.WAITING,
        0,
        None,
        None,
        None,
    )
    assert driver.give_back(a) is False
    assert driver.list_attempt_errors(a.id) == []
    driver.set_group_paused("g", True)
    assert driver.give_back(b) is True
    assert status_of(driver, b.id) == "paused"  # its group was paused meanwhile


def _expire(driver: Driver, *specs: dict[str, object], token: str = "T") -> list[Job]:
    driver.insert_jobs([new_job(f"x{i}", **spec) for i, spec in enumerate(specs)])  # type: ignore[arg-type]
    return claim(driver, token, limit=len(specs), worker="lost-worker", lease=-1)


def test_rescue_expired_counts_a_started_attempt(driver: Driver) -> None:
    retried, used_up = _expire(driver, {"max_attempts": 2}, {"max_attempts": 1})
    assert driver.mark_started([(retried.id, "T"), (used_up.id, "T")]) == 2
    rows = driver.rescue_expired("worker lost", "worker lost before start")
    assert sorted((int(row["id"]), bool(row["started"]), row["locked_by"]) for row in rows) == [
        (retried.id, True, "lost-worker"),
        (used_up.id, True, "lost-worker"),
    ]
    back = driver.get_job(retried.id)
    assert back is not None
    assert (back.status, back.attempts, back.error_code, back.error_message) == (
        JobStatus.WAITING,
        1,
        "WORKER_LOST",
        "worker lost",
    )
    assert (back.lease_token, back.locked_by, back.locked_until, back.failed_at) == (
        None,
        None,
        None,
        None,
    )
    failed = driver.get_job(used_up.id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.error_code) == (
        JobStatus.FAILED,
        1,
        "WORKER_LOST",
    )
    assert failed.failed_at is not None
    for job in (retried, used_up):
        [error] = driver.list_attempt_errors(job.id)
        assert (error["attempt"], error["error_code"], error["worker_id"]) == (
            1,
            "WORKER_LOST",
            "lost-worker",
        )
    assert driver.rescue_expired("worker lost", "worker lost before start") == []


def test_rescue_expired_gives_back_an_unstarted_task_uncounted(driver: Driver) -> None:
    [job] = _expire(driver, {"max_attempts": 1})
    [row] = driver.rescue_expired("worker lost", "worker lost before start")
    assert (int(row["id"]), bool(row["started"]), int(row["attempts"])) == (job.id, False, 1)
    back = driver.get_job(job.id)
    assert back is not None
    assert (back.status, back.attempts, back.error_code, back.error_message) == (
        JobStatus.WAITING,
        0,
        "WORKER_LOST",
        "worker lost before start",
    )
    assert driver.list_attempt_errors(job.id) == []  # no attempt was used


def test_rescue_expired_leaves_live_leases_and_pauses_a_paused_groups_task(
    driver: Driver,
) -> None:
    driver.insert_jobs([new_job("live")])
    [live] = claim(driver, "L", lease=60)
    [paused] = _expire(driver, {"group": "g", "max_attempts": 3})
    driver.set_group_paused("g", True)
    driver.mark_started([(paused.id, "T")])
    assert [int(row["id"]) for row in driver.rescue_expired("lost", "lost")] == [paused.id]
    assert status_of(driver, live.id) == "executing"
    assert status_of(driver, paused.id) == "paused"
    assert driver.heartbeat(60, [(paused.id, "T")]) == 0  # the lost holder's lease is gone
    assert driver.move_to_success(paused, 1) is False
