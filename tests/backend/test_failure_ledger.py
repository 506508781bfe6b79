"""The failure ledger's writes, called directly: fingerprints at failure time, the kept counts
(always equal to a recount of the failed rows) and the outcome rollups of failures, retries and
rescues."""

from __future__ import annotations

from typing import Any

from stratix_queue import Job
from stratix_queue.backends.arguments import RetryLater
from stratix_queue.backends.driver import Driver
from stratix_queue.fingerprint import fingerprint
from stratix_queue.validation import error_data
from tests.backend.conftest import RawSql, claim, new_job
from tests.ledger import kept_counts, recount, stack_at


def _claimed(driver: Driver, token: str, lease: float = 60.0, **spec: Any) -> Job:
    driver.insert_jobs([new_job(**spec)])
    [job] = claim(driver, token, lease=lease)
    return job


def test_a_failure_is_fingerprinted_and_counted(driver: Driver, raw: RawSql) -> None:
    error = error_data("no exchange rate for GBP", stack_at("raise LookupError(x)"), "LookupError")
    job = _claimed(driver, "t1", executor="convert", group="fx")
    assert driver.mark_as_failed(job, error)
    assert error.fingerprint == fingerprint("LookupError", error.message, error.stack)
    failed = driver.get_job(job.id)
    assert failed is not None
    assert raw.scalar("SELECT fingerprint FROM queue_jobs WHERE id = %s", [job.id]) == (
        error.fingerprint
    )
    assert raw.scalar("SELECT fingerprint FROM queue_job_errors WHERE job_id = %s", [job.id]) == (
        error.fingerprint
    )
    [row] = driver.failure_counts()
    assert (row["fingerprint"], row["executor"], row["group_name"], row["error_code"]) == (
        error.fingerprint,
        "convert",
        "fx",
        "LookupError",
    )
    assert int(row["failed"]) == 1 and row["sample_message"] == "no exchange rate for GBP"
    assert row["first_seen"] is not None and row["last_seen"] is not None


def test_same_error_other_value_falls_together_other_line_does_not(driver: Driver) -> None:
    gbp = error_data("no exchange rate for GBP", stack_at("raise LookupError(x)"), "LookupError")
    jpy = error_data("no exchange rate for JPY", stack_at("raise LookupError(x)"), "LookupError")
    other = error_data("no exchange rate for GBP", stack_at("raise LookupError(y)"), "LookupError")
    for token, error in (("a", gbp), ("b", jpy), ("c", other)):
        assert driver.mark_as_failed(_claimed(driver, token, executor="convert"), error)
    counts = {row["fingerprint"]: int(row["failed"]) for row in driver.failure_counts()}
    assert gbp.fingerprint == jpy.fingerprint != other.fingerprint
    assert counts == {gbp.fingerprint: 2, other.fingerprint: 1}


def test_kept_counts_equal_a_recount_through_every_change(driver: Driver, raw: RawSql) -> None:
    """Failures under several keys, a retry then a failure, a fenced-out failure, a rescue that
    fails a task, retries of some failed tasks (one twice, one not failed): the kept counts
    equal a recount after each step, and leave no empty row."""

    def check() -> None:
        assert kept_counts(driver) == recount(raw.query)
        assert all(int(row["failed"]) > 0 for row in driver.failure_counts())

    failed = []
    for i, (executor, group, code) in enumerate(
        [("e1", "g1", "E1"), ("e1", None, "E1"), ("e2", "g1", None), ("e1", "g1", "E1")]
    ):
        job = _claimed(driver, f"f{i}", executor=executor, group=group)
        assert driver.mark_as_failed(job, error_data(f"boom {i}", None, code))
        failed.append(job)
        check()
    job = _claimed(driver, "r1", executor="e3", max_attempts=2)
    assert driver.retry_later(job, RetryLater(error_data("once", None, "E3"), 0.0))
    check()
    assert not driver.mark_as_failed(job, error_data("stale", None, "E3"))  # no longer held
    check()
    job = _claimed(driver, "lost", executor="e4", lease=-1.0)
    driver.mark_started([(job.id, "lost")])
    rescued = driver.rescue_expired("worker lost", "never started")
    assert [int(row["id"]) for row in rescued] == [job.id]
    check()
    assert (
        recount(raw.query)[
            (fingerprint("WORKER_LOST", "worker lost", None), "e4", "", "WORKER_LOST")
        ]
        == 1
    )
    retried = driver.retry_failed([failed[0].id, failed[0].id, failed[2].id, 10**9])
    assert sorted(int(row["id"]) for row in retried) == [failed[0].id, failed[2].id]
    check()
    assert driver.retry_failed([failed[0].id]) == []
    check()
    driver.retry_failed([job.id for job in failed] + [job.id])
    check()
    assert driver.failure_counts() == []


def test_failures_retries_and_rescues_are_rolled_up(driver: Driver, raw: RawSql) -> None:
    a = _claimed(driver, "a", executor="e1", group="g")
    assert driver.mark_as_failed(a, error_data("x", None, "E"))
    b = _claimed(driver, "b", executor="e1", group="g", max_attempts=3)
    assert driver.retry_later(b, RetryLater(error_data("x", None, "E"), 0.0))
    c = _claimed(driver, "c", executor="e2", lease=-1.0)
    driver.mark_started([(c.id, "c")])
    driver.rescue_expired("lost", "unstarted")
    rows = raw.query(
        "SELECT executor, group_name, SUM(failed), SUM(retried), SUM(rescued), SUM(cancelled) "
        "FROM queue_rollups WHERE bucket = -1 GROUP BY executor, group_name ORDER BY executor"
    )
    assert [tuple(int(v) if not isinstance(v, str) else v for v in row) for row in rows] == [
        ("e1", "g", 1, 1, 0, 0),
        ("e2", "", 1, 0, 1, 0),
    ]
