"""Issue 13, point 6: a row another client wrote that cannot be read as a task is failed with a
clear code, without running any code, and the rest of its claim runs; a database error that no
retry can fix ends the attempt visibly instead of hanging the worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stratix_queue import InvalidInputError, Job, JobStatus, QueueService
from stratix_queue.job import Unreadable
from tests import dbs
from tests.conftest import only


def _run_burst(queue: QueueService, timeout: float = 20.0) -> Any:
    """run_worker(burst=True) in a thread; it must return within ``timeout``."""
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(stats=queue.run_worker(concurrency=4, burst=True)),
        daemon=True,
    )
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the worker hangs"
    return result["stats"]


def _recorder(queue: QueueService) -> list[int]:
    ran: list[int] = []
    queue.register_executor("rec", lambda payload, job: ran.append(job.id))
    return ran


def test_a_payload_that_is_not_json_fails_its_task_and_the_others_run(
    queue: QueueService, db_url: str
) -> None:
    ran = _recorder(queue)
    good = [queue.add_task(name=f"g{i}", executor="rec", payload={"i": i}) for i in range(5)]
    bad = queue.add_task(name="bad", executor="rec", payload={"x": 1})
    dbs.query(db_url, "UPDATE queue_jobs SET payload = 'not json{' WHERE id = %s", [bad.id])
    stats = _run_burst(queue)
    assert sorted(ran) == [job.id for job in good]  # the bad one ran no code
    assert (stats.succeeded, stats.failed, stats.unreadable) == (5, 1, 1)
    failed = queue.get_task(bad.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error_code == "BAD_PAYLOAD"
    assert failed.error_message is not None and "payload cannot be read: not JSON" in (
        failed.error_message
    )
    assert "'not json{'" in failed.error_message
    assert isinstance(failed.payload, Unreadable)  # reads show it instead of raising
    assert [job.id for job in queue.get_failed_tasks()] == [bad.id]


@only("sqlite")
def test_a_column_of_the_wrong_type_fails_its_task(
    backend: str, queue: QueueService, db_url: str
) -> None:
    """SQLite stores what it is given: a priority that is text, a run_at that is no time."""
    ran = _recorder(queue)
    jobs = [queue.add_task(name=f"t{i}", executor="rec") for i in range(4)]
    dbs.query(db_url, "UPDATE queue_jobs SET priority = 'high' WHERE id = %s", [jobs[0].id])
    dbs.query(db_url, "UPDATE queue_jobs SET created_at = 'yesterday' WHERE id = %s", [jobs[1].id])
    dbs.query(db_url, "UPDATE queue_jobs SET max_attempts = 2.5 WHERE id = %s", [jobs[2].id])
    stats = _run_burst(queue)
    assert ran == [jobs[3].id]
    assert (stats.succeeded, stats.unreadable) == (1, 3)
    codes = {job.id: queue.get_task(job.id) for job in jobs[:3]}
    assert all(j is not None and j.error_code == "BAD_ROW" for j in codes.values()), codes
    messages = [j.error_message or "" for j in codes.values() if j is not None]
    assert "priority cannot be read" in messages[0] and "'high'" in messages[0]
    assert "created_at cannot be read" in messages[1]
    assert "max_attempts cannot be read" in messages[2]


def _break_success_writes(backend: str, url: str) -> None:
    """A constraint no success can meet: the write can never succeed, however often tried."""
    if backend == "sqlite":
        dbs.query(
            url,
            "CREATE TRIGGER no_success BEFORE INSERT ON queue_success "
            "BEGIN SELECT RAISE(ABORT, 'no success allowed'); END",
        )
    else:
        dbs.query(url, "ALTER TABLE queue_success ADD CONSTRAINT no_success CHECK (id < 0)")


@pytest.fixture
def own_queue(fresh_url: str) -> Iterator[QueueService]:
    """A queue on a database of its own: these tests break its schema."""
    with QueueService(fresh_url) as queue:
        queue.migrate()
        yield queue


def test_a_success_that_can_never_be_written_fails_its_task_and_does_not_hang(
    backend: str, own_queue: QueueService, fresh_url: str
) -> None:
    queue, db_url = own_queue, fresh_url
    ran = _recorder(queue)
    jobs = [queue.add_task(name=f"t{i}", executor="rec") for i in range(3)]
    _break_success_writes(backend, db_url)
    stats = _run_burst(queue)
    assert sorted(ran) == [job.id for job in jobs]
    assert (stats.succeeded, stats.failed) == (0, 3)
    for job in jobs:
        stored = queue.get_task(job.id)
        assert stored is not None and stored.error_code == "SUCCESS_NOT_RECORDED"
        assert "could not be recorded" in (stored.error_message or "")


def test_a_failure_that_can_never_be_written_is_logged_and_does_not_hang(
    own_queue: QueueService, fresh_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing column after a bad migration: the failure cannot be recorded; the worker logs
    it with the task's id and goes on (the lease expires and the rescue decides)."""
    queue, db_url = own_queue, fresh_url

    def boom(payload: Any, job: Job) -> None:
        raise ValueError("boom")

    queue.register_executor("boom", boom)
    job = queue.add_task(name="b", executor="boom")
    dbs.query(db_url, "ALTER TABLE queue_job_errors DROP COLUMN error_stack")
    with caplog.at_level(logging.ERROR, logger="stratix_queue"):
        stats = _run_burst(queue)
    assert (stats.failed, stats.succeeded) == (0, 0)
    assert f"could not record the outcome of task {job.id}" in caplog.text
    stored = queue.get_task(job.id)
    assert stored is not None and stored.status is JobStatus.EXECUTING  # for the rescue


def test_a_backoff_no_database_can_store_is_refused_or_replaced(queue: QueueService) -> None:
    """A delay of 1e12 s or infinity cannot be written as a run_at: refused at registration;
    from a backoff function, replaced by the default so that the retry is still written."""
    for bad in (1e12, float("inf"), -1):
        with pytest.raises(InvalidInputError, match="backoff"):
            queue.register_executor("x", lambda payload: None, backoff=bad)
    tries: list[int] = []

    def flaky(payload: Any, job: Job) -> None:
        tries.append(job.attempts)
        if job.attempts == 1:
            raise ValueError("first try")

    queue.register_executor("flaky", flaky, max_attempts=2, backoff=lambda attempt: float("inf"))
    queue.add_task(name="f", executor="flaky")
    stats = _run_burst(queue)
    assert tries == [1, 2] and (stats.retried, stats.succeeded) == (1, 1)
