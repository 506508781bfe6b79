"""The seed's failure model: failures stay in queue_jobs; list, retry, count them."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from stratix_queue import JobStatus, QueueService
from tests import dbs

ERROR = {"message": "boom", "stack": "Traceback ...\nValueError: boom", "code": "E_BOOM"}


def _failed(
    queue: QueueService,
    name: str = "n",
    executor: str = "e",
    group: str | None = None,
    code: str = "E_BOOM",
) -> int:
    job = queue.add_task(name=name, executor=executor, group=group)
    assert queue.repository.mark_as_failed(job, {**ERROR, "code": code})
    return job.id


def test_mark_as_failed_keeps_the_task_with_its_error(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="processData", executor="dataProcessor", payload={"d": 1})
    assert queue.repository.mark_as_failed(job, ERROR) is True
    failed = queue.get_task(job.id)
    assert failed is not None and failed.is_failed()
    info = failed.get_error_info()
    assert info is not None
    assert (info.message, info.stack, info.code) == (ERROR["message"], ERROR["stack"], "E_BOOM")
    assert info.failed_at is not None
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 0
    row = dbs.query(
        db_url, "SELECT status, error_message, error_code FROM queue_jobs WHERE id = %s", [job.id]
    )
    assert row == [("failed", "boom", "E_BOOM")]


def test_success_moves_the_row_and_has_no_metadata(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="n", executor="e", group="g", payload={"x": 1})
    assert queue.repository.move_to_success(job, 7)
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs WHERE id = %s", [job.id]) == 0
    assert dbs.query(db_url, "SELECT id, group_name FROM queue_success") == [(job.id, "g")]
    with pytest.raises(Exception, match=r"(?i)metadata"):
        dbs.query(db_url, "SELECT metadata FROM queue_success")


def test_writes_about_a_stale_job_change_nothing(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="n", executor="e")
    assert queue.repository.mark_as_failed(job, ERROR)
    # `job` still says waiting: a second success/failure based on it must not apply
    assert queue.repository.move_to_success(job, 1) is False
    assert queue.repository.mark_as_failed(job, {**ERROR, "message": "other"}) is False
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 0
    stored = queue.get_task(job.id)
    assert stored is not None and stored.error_message == "boom"


def test_success_is_all_or_nothing(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="n", executor="e")
    # a row with this id already in queue_success makes the insert fail: the delete must roll back
    dbs.query(
        db_url,
        "INSERT INTO queue_success (id, job_name, executor, payload, created_at, completed_at) "
        "VALUES (%s, 'x', 'x', '{}', '2020-01-01 00:00:00', '2020-01-01 00:00:00')",
        [job.id],
    )
    with pytest.raises(Exception):  # noqa: B017,PT011 - any database error will do
        queue.repository.move_to_success(job, 1)
    assert queue.get_task(job.id) is not None
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 1


def test_get_failed_tasks_newest_first_with_paging(queue: QueueService) -> None:
    ids = []
    for i in range(5):
        ids.append(_failed(queue, name=f"t{i}"))
        time.sleep(0.01)  # distinct failed_at even at millisecond precision
    queue.add_task(name="waiting", executor="e")
    listed = queue.get_failed_tasks(100, 0)
    assert [job.id for job in listed] == list(reversed(ids))
    assert all(job.is_failed() for job in listed)
    assert [job.id for job in queue.get_failed_tasks(2, 1)] == list(reversed(ids))[1:3]
    assert queue.get_failed_tasks(10, 5) == []
    assert [job.id for job in queue.get_failed_tasks()] == list(reversed(ids))


def test_retry_failed_task(queue: QueueService, db_url: str) -> None:
    task_id = _failed(queue)
    assert queue.retry_failed_task(task_id) is True
    job = queue.get_task(task_id)
    assert job is not None and job.status is JobStatus.WAITING
    assert (job.error_message, job.error_stack, job.error_code, job.failed_at) == (
        None,
        None,
        None,
        None,
    )
    assert queue.retry_failed_task(task_id) is False  # not failed any more
    assert queue.retry_failed_task(987_654_321) is False  # no such task
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs WHERE status = 'failed'") == 0


def test_retry_failed_tasks_in_bulk(queue: QueueService) -> None:
    failed = [_failed(queue) for _ in range(3)]
    waiting = queue.add_task(name="w", executor="e").id
    result = queue.retry_failed_tasks([failed[0], waiting, failed[1], 999_999_999, failed[2]])
    assert result.success == [failed[0], failed[1], failed[2]]
    assert result.failed == [waiting, 999_999_999]
    assert queue.get_failed_tasks() == []
    again = queue.retry_failed_tasks(failed)
    assert (again.success, again.failed) == ([], failed)


def test_bulk_retry_of_many_ids(queue: QueueService) -> None:
    jobs = queue.add_tasks([{"name": "n", "executor": "e"} for _ in range(1100)])
    for job in jobs:
        queue.repository.mark_as_failed(job, ERROR)
    result = queue.retry_failed_tasks([job.id for job in jobs])
    assert len(result.success) == 1100 and result.failed == []
    assert queue.count_by_status()["waiting"] == 1100


def _retry_at_once(
    queue: QueueService, task_id: int, barrier: threading.Barrier, results: list[bool]
) -> None:
    barrier.wait()
    results.append(queue.retry_failed_task(task_id))


def test_concurrent_retries_of_one_task_give_one_true(make_queue) -> None:  # type: ignore[no-untyped-def]
    queues = [make_queue() for _ in range(6)]
    for round_ in range(5):
        task_id = _failed(queues[0], name=f"r{round_}")
        results: list[bool] = []
        barrier = threading.Barrier(len(queues))

        threads = [
            threading.Thread(target=_retry_at_once, args=(q, task_id, barrier, results))
            for q in queues
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * (len(queues) - 1) + [True]


def test_failed_task_stats(queue: QueueService) -> None:
    _failed(queue, executor="a", group="reports")
    _failed(queue, executor="a", group="reports")
    _failed(queue, executor="b", group=None)
    queue.add_task(name="ok", executor="c", group="reports")
    stats = queue.get_failed_tasks_stats()
    assert stats.total == 3
    assert stats.by_executor == {"a": 2, "b": 1}
    assert stats.by_group == {"reports": 2, None: 1}


def test_stats_when_nothing_failed(queue: QueueService) -> None:
    stats = queue.get_failed_tasks_stats()
    assert (stats.total, stats.by_executor, stats.by_group) == (0, {}, {})


def test_the_seed_monitoring_queries_work_verbatim(queue: QueueService, db_url: str) -> None:
    first = _failed(queue, name="first")
    time.sleep(0.01)
    second = _failed(queue, name="second")
    queue.add_task(name="w", executor="e")
    rows = dbs.query(
        db_url,
        "SELECT id, job_name, error_message, failed_at FROM queue_jobs "
        "WHERE status = 'failed' ORDER BY failed_at DESC;",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (second, "second", "boom"),
        (first, "first", "boom"),
    ]
    assert all(r[3] is not None for r in rows)
    counts = dbs.query(db_url, "SELECT status, COUNT(*) as count FROM queue_jobs GROUP BY status;")
    assert sorted((status, int(count)) for status, count in counts) == [
        ("failed", 2),
        ("waiting", 1),
    ]


@pytest.mark.parametrize("status", ["waiting", "executing", "delayed", "paused", "failed"])
def test_check_constraint_allows_the_five_statuses(
    queue: QueueService, db_url: str, status: str
) -> None:
    job = queue.add_task(name="n", executor="e")
    dbs.query(db_url, "UPDATE queue_jobs SET status = %s WHERE id = %s", [status, job.id])
    assert dbs.scalar(db_url, "SELECT status FROM queue_jobs WHERE id = %s", [job.id]) == status


@pytest.mark.parametrize("status", ["done", "FAILED", "", "completed"])
def test_check_constraint_rejects_other_statuses(
    queue: QueueService, db_url: str, status: str
) -> None:
    job = queue.add_task(name="n", executor="e")
    with pytest.raises(Exception, match=r"(?i)chk_queue_jobs_status|constraint"):
        dbs.query(db_url, "UPDATE queue_jobs SET status = %s WHERE id = %s", [status, job.id])
    assert dbs.scalar(db_url, "SELECT status FROM queue_jobs WHERE id = %s", [job.id]) == "waiting"


def test_the_three_log_lines(queue: QueueService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stratix_queue")
    ok = queue.add_task(name="okName", executor="okExec")
    bad = queue.add_task(name="badName", executor="badExec")
    queue.repository.move_to_success(ok, 3)
    queue.repository.mark_as_failed(bad, ERROR)
    queue.retry_failed_task(bad.id)
    lines = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    for needle, job in (
        ("moved to the success table", ok),
        ("marked as failed", bad),
        ("reset to waiting", bad),
    ):
        matching = [m for name, level, m in lines if needle in m]
        assert len(matching) == 1, lines
        assert all(
            name.startswith("stratix_queue") and level >= logging.INFO
            for name, level, m in lines
            if needle in m
        )
        assert f"id={job.id}" in matching[0]
        assert job.name in matching[0] and job.executor in matching[0]
