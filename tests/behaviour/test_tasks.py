"""Adding and reading tasks: the same behaviour on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stratix_queue import Job, JobStatus, QueueService
from tests import dbs


def test_add_task_returns_a_waiting_job_with_defaults(queue: QueueService) -> None:
    job = queue.add_task(name="processData", executor="dataProcessor", payload={"data": "example"})
    assert isinstance(job, Job)
    assert isinstance(job.id, int) and job.id > 0
    assert (job.name, job.executor, job.payload) == (
        "processData",
        "dataProcessor",
        {"data": "example"},
    )
    assert job.status is JobStatus.WAITING
    assert (job.group, job.priority, job.attempts, job.max_attempts) == (None, 0, 0, 1)
    assert job.created_at is not None and job.created_at.tzinfo is not None
    assert not job.is_failed() and job.get_error_info() is None
    assert queue.get_task(job.id) == job


def test_job_is_immutable(queue: QueueService) -> None:
    job = queue.add_task(name="n", executor="e")
    with pytest.raises(AttributeError):
        job.status = JobStatus.FAILED  # type: ignore[misc]


def test_timestamps_are_utc_and_close_to_now(queue: QueueService) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    job = queue.add_task(name="n", executor="e")
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert job.created_at is not None and before <= job.created_at <= after


def test_add_tasks_is_one_batch_in_order(queue: QueueService, db_url: str) -> None:
    specs = [
        {"name": f"t{i}", "executor": "e", "payload": {"i": i}, "group": "g" if i % 2 else None}
        for i in range(1200)  # more than one insert chunk
    ]
    jobs = queue.add_tasks(specs)
    assert [job.payload["i"] for job in jobs] == list(range(1200))
    assert [job.id for job in jobs] == sorted(job.id for job in jobs)
    assert len({job.id for job in jobs}) == 1200
    assert jobs[1].group == "g" and jobs[0].group is None
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 1200


def test_add_tasks_empty_list(queue: QueueService) -> None:
    assert queue.add_tasks([]) == []


def test_payload_types_round_trip(queue: QueueService) -> None:
    payloads = [{"a": [1, 2.5, None, True]}, [1, 2], "text", 42, None]
    for payload in payloads:
        job = queue.add_task(name="n", executor="e", payload=payload)
        stored = queue.get_task(job.id)
        assert stored is not None
        assert stored.payload == ({} if payload is None else payload)


def test_delay_makes_a_delayed_task(queue: QueueService) -> None:
    job = queue.add_task(name="later", executor="e", delay=60)
    assert job.status is JobStatus.DELAYED
    assert job.run_at is not None and job.created_at is not None
    assert timedelta(seconds=59) <= job.run_at - job.created_at <= timedelta(seconds=61)
    as_delta = queue.add_task(name="later", executor="e", delay=timedelta(minutes=2))
    assert as_delta.status is JobStatus.DELAYED


def test_run_at_sets_the_due_time(queue: QueueService) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    job = queue.add_task(name="later", executor="e", run_at=when)
    assert job.status is JobStatus.DELAYED
    assert job.run_at is not None and abs(job.run_at - when) < timedelta(seconds=1)


def test_max_attempts_default_comes_from_the_executor(queue: QueueService) -> None:
    @queue.executor("flaky", max_attempts=5)
    def flaky(payload: object) -> None:
        pass

    assert queue.add_task(name="n", executor="flaky").max_attempts == 5
    assert queue.add_task(name="n", executor="flaky", max_attempts=2).max_attempts == 2
    assert queue.add_task(name="n", executor="unregistered").max_attempts == 1


def test_get_task_of_a_succeeded_task_is_none(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="n", executor="e", payload={"k": "v"})
    assert queue.repository.move_to_success(job, 12) is True
    assert queue.get_task(job.id) is None
    rows = dbs.query(
        db_url,
        "SELECT id, job_name, executor, execution_time FROM queue_success WHERE id = %s",
        [job.id],
    )
    assert rows == [(job.id, "n", "e", 12)]


def test_count_by_status_lists_every_status(queue: QueueService) -> None:
    queue.add_task(name="a", executor="e")
    queue.add_task(name="b", executor="e", delay=100)
    failed = queue.add_task(name="c", executor="e")
    queue.repository.mark_as_failed(failed, {"message": "m", "stack": "s", "code": "C"})
    assert queue.count_by_status() == {
        "waiting": 1,
        "executing": 0,
        "delayed": 1,
        "paused": 0,
        "failed": 1,
    }


def test_url_is_what_was_given(db_url: str) -> None:
    with QueueService(db_url) as queue:
        assert queue.url == db_url


def test_default_url_is_a_sqlite_file_in_the_working_directory(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.delenv("STRATIX_QUEUE_URL", raising=False)
    with QueueService() as queue:
        assert queue.url == "sqlite:///stratix-queue.db"
        queue.migrate()
        queue.add_task(name="n", executor="e")
    assert (tmp_path / "stratix-queue.db").exists()  # type: ignore[operator]
