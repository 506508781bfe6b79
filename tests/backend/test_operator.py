"""What an operator reads and does, called directly: list_failed, failed_counts,
failed_by_code, failed_ids, retry_failed, set_group_paused, group_overview, summary and
prune_success."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stratix_queue import Job, JobStatus
from stratix_queue.backends.arguments import ErrorData, JobFilter, RetryLater
from stratix_queue.backends.driver import Driver
from tests.backend.conftest import OLD, RawSql, claim, count, new_job, now, status_of


def _fail(driver: Driver, code: str | None, **spec: Any) -> Job:
    """A task that failed with ``code``."""
    driver.insert_jobs([new_job(**spec)])
    [job] = claim(driver, f"fail-{code}-{spec}")
    assert driver.mark_as_failed(job, ErrorData(f"message {code}", None, code))
    return job


def _failed_set(driver: Driver) -> list[Job]:
    """e1/g1/E1, e1/None/E1, e2/g2/None, and a waiting task that matches every filter."""
    jobs = [
        _fail(driver, "E1", name="a", executor="e1", group="g1"),
        _fail(driver, "E1", name="b", executor="e1"),
        _fail(driver, None, name="c", executor="e2", group="g2"),
    ]
    driver.insert_jobs([new_job("waiting", executor="e1", group="g1")])
    return jobs


def test_list_failed_newest_first_with_paging(driver: Driver) -> None:
    assert driver.list_failed(10, 0) == []
    a, b, c = _failed_set(driver)
    listed = driver.list_failed(10, 0)
    assert [job.id for job in listed] == [c.id, b.id, a.id]
    assert all(job.status is JobStatus.FAILED for job in listed)
    assert listed[0] == driver.get_job(c.id)
    assert [job.id for job in driver.list_failed(1, 1)] == [b.id]
    assert [job.id for job in driver.list_failed(5, 2)] == [a.id]
    assert driver.list_failed(5, 3) == []


def test_failed_counts_and_by_code(driver: Driver) -> None:
    assert driver.failed_counts() == ({}, {})
    assert driver.failed_by_code() == {}
    _failed_set(driver)
    assert driver.failed_counts() == ({"e1": 2, "e2": 1}, {"g1": 1, None: 1, "g2": 1})
    assert driver.failed_by_code() == {"E1": 2, None: 1}


def test_failed_ids_filters_failed_tasks_only(driver: Driver) -> None:
    a, b, c = _failed_set(driver)
    assert driver.failed_ids(JobFilter()) == [a.id, b.id, c.id]
    assert driver.failed_ids(JobFilter(group="g1")) == [a.id]
    assert driver.failed_ids(JobFilter(executor="e1")) == [a.id, b.id]
    assert driver.failed_ids(JobFilter(code="E1")) == [a.id, b.id]
    assert driver.failed_ids(JobFilter(executor="e1", code="E1", group="g1")) == [a.id]
    assert driver.failed_ids(JobFilter(executor="e2", code="E1")) == []
    assert driver.failed_ids(JobFilter(group="nope")) == []


def test_retry_failed_resets_only_failed_tasks(driver: Driver) -> None:
    a, b, c = _failed_set(driver)
    driver.set_group_paused("g2", True)
    [waiting] = driver.list_jobs(JobFilter(status="waiting"), 10, 0)
    assert driver.retry_failed([]) == []
    rows = driver.retry_failed([a.id, c.id, waiting.id, a.id + 10_000])
    # the rows' common columns (MariaDB's have no status: they are read before the update)
    assert sorted((int(row["id"]), row["job_name"], row["executor"]) for row in rows) == [
        (a.id, "a", "e1"),
        (c.id, "c", "e2"),
    ]
    assert status_of(driver, c.id) == "paused"  # its group is paused
    reset = driver.get_job(a.id)
    assert reset is not None
    assert (reset.status, reset.attempts, reset.failed_at) == (JobStatus.WAITING, 0, None)
    assert (reset.error_message, reset.error_stack, reset.error_code) == (None, None, None)
    assert (reset.lease_token, reset.locked_by, reset.locked_until) == (None, None, None)
    assert reset.run_at is not None and reset.run_at > now() - timedelta(seconds=5)
    assert status_of(driver, b.id) == "failed"
    assert driver.retry_failed([a.id, c.id]) == []  # no longer failed
    assert len(driver.list_attempt_errors(a.id)) == 1  # the history stays


def test_pause_and_resume_a_group(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("running", group="g")])
    [running] = claim(driver, groups=("g",))
    jobs = driver.insert_jobs(
        [
            new_job("waiting", group="g"),
            new_job("due", group="g", run_at=now() - timedelta(seconds=5)),
            new_job("later", group="g", delay=60),
            new_job("other", group="h"),
        ]
    )
    waiting, due, later, other = (job.id for job in jobs)
    assert status_of(driver, due) == "delayed"
    assert driver.set_group_paused("g", True) == 3  # waiting and delayed; executing runs on
    assert driver.group_overview()[1] == {"g"}
    assert [status_of(driver, job_id) for job_id in (waiting, due, later)] == ["paused"] * 3
    assert status_of(driver, running.id) == "executing"
    assert status_of(driver, other) == "waiting"
    assert driver.set_group_paused("g", True) == 0  # again: nothing left to pause
    assert count(raw, "queue_groups", "group_name = %s", ("g",)) == 1
    assert driver.set_group_paused("g", False) == 3
    assert driver.group_overview()[1] == set()
    assert status_of(driver, waiting) == "waiting"
    assert status_of(driver, due) == "waiting"  # due meanwhile: no promote_due needed
    assert status_of(driver, later) == "delayed"  # not due yet
    assert driver.set_group_paused("g", False) == 0
    assert driver.set_group_paused("never-paused", False) == 0
    assert driver.group_overview()[1] == set()


def test_group_overview_counts_grouped_tasks_by_status(driver: Driver) -> None:
    assert driver.group_overview() == ([], set())
    driver.insert_jobs(
        [
            new_job(group="g"),
            new_job(group="g"),
            new_job(group="g", delay=60),
            new_job(group="h"),
            new_job(),
        ]
    )
    claim(driver, groups=("h",))
    driver.set_group_paused("p", True)
    rows, paused = driver.group_overview()
    assert sorted((row["group_name"], row["status"], int(row["count"])) for row in rows) == [
        ("g", "delayed", 1),
        ("g", "waiting", 2),
        ("h", "executing", 1),
    ]
    assert paused == {"p"}


def test_summary(driver: Driver, raw: RawSql) -> None:
    empty = driver.summary(60)
    assert (int(empty["succeeded_recently"]), empty["oldest_waiting"], int(empty["running"])) == (
        0,
        None,
        0,
    )
    assert empty["db_now"] is not None
    driver.insert_jobs([new_job(f"n{i}") for i in range(5)])
    a, b, c = claim(driver, limit=3)
    driver.mark_started([(a.id, "token-1")])
    assert driver.move_to_success(b, 1) and driver.move_to_success(c, 1)
    raw.query("UPDATE queue_success SET completed_at = %s WHERE id = %s", (OLD, c.id))
    summary = driver.summary(60)
    assert int(summary["succeeded_recently"]) == 1  # c completed long ago
    assert int(summary["running"]) == 1  # a; the other executing one never started
    assert summary["oldest_waiting"] is not None
    assert int(driver.summary(10**9)["succeeded_recently"]) == 2


def test_prune_success_dry_run_then_real(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job(f"n{i}", max_attempts=2) for i in range(4)])
    jobs = claim(driver, limit=4)
    # the first one failed an attempt before it succeeded: its history ages out with it
    assert driver.retry_later(jobs[0], RetryLater(ErrorData("x", None, "X"), 0))
    driver.promote_due()
    [again] = claim(driver, "again")
    done = [again, *jobs[1:3]]
    assert driver.move_many_to_success([(job, 1) for job in done]) == {job.id for job in done}
    # a failed task's history stays however old: the task is still in queue_jobs
    assert driver.mark_as_failed(jobs[3], ErrorData("y", None, "Y"))
    old = [again.id, jobs[1].id]
    for job_id in old:
        raw.query("UPDATE queue_success SET completed_at = %s WHERE id = %s", (OLD, job_id))
    raw.query("UPDATE queue_job_errors SET failed_at = %s", (OLD,))

    assert driver.prune_success(3600, True) == 2
    assert count(raw, "queue_success") == 3  # a dry run deletes nothing
    assert count(raw, "queue_job_errors") == 2
    assert driver.prune_success(3600, False) == 2
    assert sorted(r[0] for r in raw.query("SELECT id FROM queue_success")) == [jobs[2].id]
    assert driver.list_attempt_errors(again.id) == []
    assert [row["error_code"] for row in driver.list_attempt_errors(jobs[3].id)] == ["Y"]
    assert driver.prune_success(3600, True) == 0
    assert driver.prune_success(3600, False) == 0
    assert driver.prune_success(10**6, False) == 0
    assert count(raw, "queue_success") == 1
