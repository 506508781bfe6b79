"""OutcomeWriter (outcomes.py) with a JobRepository over the in-memory driver: every outcome a
worker writes, and how it is counted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from stratix_queue.backends.driver import Driver
from stratix_queue.job import Job
from stratix_queue.outcomes import OutcomeWriter, WorkerStats
from stratix_queue.repository import JobRepository
from stratix_queue.validation import error_data
from tests import memory
from tests.unit.conftest import add, claim, status, stored


class CountingRepository(JobRepository):
    """A JobRepository that records the size of each batch of successes it writes."""

    def __init__(self, driver: Driver) -> None:
        super().__init__(driver)
        self.batches: list[int] = []

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        self.batches.append(len(done))
        return super().move_many_to_success(done)


@pytest.fixture
def repository(driver: Driver) -> CountingRepository:
    return CountingRepository(driver)


@pytest.fixture
def stats() -> WorkerStats:
    return WorkerStats()


@pytest.fixture
def writer(repository: CountingRepository, stats: WorkerStats) -> Iterator[OutcomeWriter]:
    """A writer whose batcher thread is not started yet (a test starts it when it means to)."""
    writer = OutcomeWriter(repository, stats)
    yield writer
    writer.close()  # joins the batcher thread if it was started


def _counts(stats: WorkerStats) -> dict[str, int]:
    names = ("succeeded", "failed", "retried", "lost", "given_back", "unreadable")
    return {name: getattr(stats, name) for name in names if getattr(stats, name)}


def test_successes_are_batched_and_moved_to_queue_success(
    driver: Driver, repository: CountingRepository, stats: WorkerStats, writer: OutcomeWriter
) -> None:
    jobs = add(driver, 3)
    claimed = claim(driver)
    assert [job.id for job in claimed] == [job.id for job in jobs]
    for ms, job in enumerate(claimed, start=10):
        writer.succeeded(job, ms)  # queued: nothing written on this thread
    assert repository.batches == []
    assert all(status(driver, job) == "executing" for job in claimed)
    writer.start()  # the batcher finds all three waiting: one batch
    assert writer.wait_idle(5.0)
    assert repository.batches == [3]
    assert _counts(stats) == {"succeeded": 3}
    assert all(driver.get_job(job.id) is None for job in claimed)
    rows = memory.query(
        driver, "SELECT id, attempts, execution_time FROM queue_success ORDER BY id"
    )
    assert rows == [(job.id, 1, ms) for ms, job in enumerate(claimed, start=10)]


def test_a_failure_is_written_before_failed_returns(
    driver: Driver, stats: WorkerStats, writer: OutcomeWriter
) -> None:
    add(driver, 1, max_attempts=1)
    [job] = claim(driver)
    writer.outcome_due(job)  # its failure is due: stuck if pending since before a time
    assert writer.unstuck([job], stuck_before=1e18) == []
    # No batcher thread runs: the write is the caller's own, done when failed() returns.
    assert writer.failed(job, error_data("boom", "Traceback ...", "E_BOOM")) is True
    failed = stored(driver, job)
    assert (failed.status.value, failed.error_message, failed.error_code) == (
        "failed",
        "boom",
        "E_BOOM",
    )
    assert failed.lease_token is None and failed.failed_at is not None
    [attempt] = driver.list_attempt_errors(job.id)
    assert (attempt["error_message"], attempt["error_code"]) == ("boom", "E_BOOM")
    assert _counts(stats) == {"failed": 1}
    assert writer.unstuck([job], stuck_before=1e18) == [job]  # its write is no longer pending


def test_a_retry_moves_the_task_to_delayed(
    driver: Driver, stats: WorkerStats, writer: OutcomeWriter
) -> None:
    add(driver, 1, max_attempts=3)
    [job] = claim(driver)
    before = datetime.now(UTC)
    assert writer.retry(job, error_data("try again", None, "E_AGAIN"), 60.0) is True
    delayed = stored(driver, job)
    assert (delayed.status.value, delayed.attempts, delayed.error_code) == ("delayed", 1, "E_AGAIN")
    assert delayed.lease_token is None and delayed.locked_by is None
    assert delayed.run_at is not None
    assert before + timedelta(seconds=55) < delayed.run_at < before + timedelta(seconds=65)
    assert claim(driver, "U") == []  # not runnable before its time
    assert _counts(stats) == {"retried": 1}


def test_a_fenced_write_that_applies_to_nothing_counts_as_lost(
    driver: Driver, stats: WorkerStats, writer: OutcomeWriter
) -> None:
    add(driver, 2)
    a, b = claim(driver, "T", limit=2)
    other = replace(a, lease_token="another-lease")  # as a worker whose lease was taken over
    assert writer.failed(other, error_data("late", None, None)) is False
    assert (
        writer.retry(replace(b, lease_token="another-lease"), error_data("x", None, None), 1.0)
        is False
    )
    writer.start()
    writer.succeeded(replace(b, lease_token="another-lease"), 5)
    assert writer.wait_idle(5.0)
    assert _counts(stats) == {"lost": 3}
    for job in (a, b):  # untouched: still held under T
        held = stored(driver, job)
        assert (held.status.value, held.lease_token, held.error_message) == ("executing", "T", None)
    assert driver.list_attempt_errors(a.id) == []  # the fenced attempt error rolled back too
    assert memory.query(driver, "SELECT COUNT(*) FROM queue_success") == [(0,)]


def test_give_back_returns_the_task_to_waiting_uncounted(
    driver: Driver, stats: WorkerStats, writer: OutcomeWriter
) -> None:
    add(driver, 1)
    [job] = claim(driver)
    assert stored(driver, job).attempts == 1
    assert writer.give_back(replace(job, lease_token="another-lease")) is False  # fenced
    assert stored(driver, job).status.value == "executing"
    assert writer.give_back(job) is True
    back = stored(driver, job)
    assert (back.status.value, back.attempts, back.lease_token, back.locked_by) == (
        "waiting",
        0,
        None,
        None,
    )
    assert writer.give_back(job) is False  # no longer held under its lease: nothing to do
    assert _counts(stats) == {"given_back": 1}
    [again] = claim(driver, "U")
    assert (again.id, again.attempts) == (job.id, 1)
