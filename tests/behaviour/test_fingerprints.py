"""Fingerprints through a real worker: failures of one error share one, wherever they come from
(an exception, a timeout, an executor no worker has), and failed tasks older than fingerprints
get theirs at migrate; the kept counts equal a recount after each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from stratix_queue import Job, QueueService
from stratix_queue.validation import error_data
from tests import dbs
from tests.ledger import kept_counts, recount


def _fingerprints(db_url: str) -> dict[str, str]:
    rows = dbs.query(db_url, "SELECT job_name, fingerprint FROM queue_jobs WHERE status = 'failed'")
    return dict(rows)


def test_one_error_one_fingerprint_another_line_another(queue: QueueService, db_url: str) -> None:
    @queue.executor("convert")
    def convert(payload: dict[str, str], job: Job) -> None:
        if payload["how"] == "lookup":
            raise LookupError(f"no exchange rate for {payload['currency']}")
        raise LookupError(f"no exchange rate for {payload['currency']}")  # another line

    queue.add_tasks(
        [
            {"name": "gbp", "executor": "convert", "payload": {"how": "lookup", "currency": "GBP"}},
            {"name": "jpy", "executor": "convert", "payload": {"how": "lookup", "currency": "JPY"}},
            {"name": "other", "executor": "convert", "payload": {"how": "x", "currency": "GBP"}},
        ]
    )
    queue.run_worker(concurrency=1, burst=True)
    marks = _fingerprints(db_url)
    assert marks["gbp"] == marks["jpy"] != marks["other"]
    assert all(len(mark) == 16 for mark in marks.values())
    history = dbs.query(db_url, "SELECT fingerprint FROM queue_job_errors ORDER BY job_id")
    assert sorted(row[0] for row in history) == sorted(marks.values())
    assert kept_counts(queue.backend) == recount(lambda sql: dbs.query(db_url, sql))


def test_timeouts_and_missing_executors_are_fingerprinted(queue: QueueService, db_url: str) -> None:
    @queue.executor("slow", timeout=0.2)
    def slow(payload: object, job: Job) -> None:
        time.sleep(5)

    queue.add_tasks(
        [
            {"name": "slow-1", "executor": "slow"},
            {"name": "slow-2", "executor": "slow"},
            {"name": "nobody", "executor": "unregistered"},
        ]
    )
    queue.run_worker(concurrency=2, burst=True)
    marks = _fingerprints(db_url)
    assert set(marks) == {"slow-1", "slow-2", "nobody"}
    assert all(marks.values())
    assert marks["nobody"] != marks["slow-1"]
    codes = dict(dbs.query(db_url, "SELECT job_name, error_code FROM queue_jobs"))
    assert (codes["slow-1"], codes["nobody"]) == ("TIMEOUT", "EXECUTOR_NOT_FOUND")
    assert kept_counts(queue.backend) == recount(lambda sql: dbs.query(db_url, sql))


def test_failures_older_than_fingerprints_get_them_at_migrate(
    queue: QueueService, db_url: str
) -> None:
    """As migration 006 leaves a database: failed rows without a fingerprint, counted under ''."""
    for name, code in (("a", "E1"), ("b", "E1"), ("c", "E2")):
        job = queue.add_task(name=name, executor="e")
        assert queue.repository.mark_as_failed(job, {"message": f"boom {name}7", "code": code})
    new_marks = _fingerprints(db_url)
    dbs.query(db_url, "UPDATE queue_jobs SET fingerprint = NULL")
    dbs.query(db_url, "DELETE FROM queue_failure_counts")
    dbs.query(
        db_url,
        "INSERT INTO queue_failure_counts (fingerprint, executor, group_name, error_code, failed,"
        " first_seen, last_seen, sample_message) SELECT '', executor, '', error_code, COUNT(*),"
        " MIN(failed_at), MAX(failed_at), MAX(error_message) FROM queue_jobs"
        " WHERE status = 'failed' GROUP BY executor, error_code",
    )
    queue.migrate()
    assert _fingerprints(db_url) == new_marks
    assert new_marks["a"] == new_marks["b"] != new_marks["c"]
    assert kept_counts(queue.backend) == recount(lambda sql: dbs.query(db_url, sql))


def test_failed_tasks_changed_by_hand_keep_the_counts_true(
    queue: QueueService, db_url: str
) -> None:
    """The repository's SPEC calls on a task that is already failed: failed again with another
    error, retried later, moved to success. Each leaves its old count; a stale Job changes
    nothing."""

    def check() -> None:
        assert kept_counts(queue.backend) == recount(lambda sql: dbs.query(db_url, sql))

    jobs = []
    for name in ("again", "later", "success", "stale"):
        job = queue.add_task(name=name, executor="e")
        assert queue.repository.mark_as_failed(job, {"message": "first", "code": "E1"})
        failed = queue.get_task(job.id)
        assert failed is not None
        jobs.append(failed)
    check()
    again, later, success, stale = jobs
    assert queue.repository.mark_as_failed(again, {"message": "second", "code": "E2"})
    check()
    assert queue.repository.retry_later(later, error_data("x", None, "E9"), 60.0)
    check()
    assert queue.repository.move_to_success(success, 5)
    check()
    assert queue.retry_failed_task(stale.id)
    assert not queue.repository.mark_as_failed(stale, {"message": "late", "code": "E3"})
    check()
    assert [(key[3], count) for key, count in kept_counts(queue.backend).items()] == [("E2", 1)]


def test_counts_stay_true_under_concurrent_failures_and_retries(
    make_queue: Callable[[], QueueService], db_url: str
) -> None:
    """Two workers fail tasks under a few keys while an operator retries failed tasks thirty
    times over: no deadlock, and the kept counts equal a recount at the end."""
    queues = [make_queue() for _ in range(3)]
    for queue in queues[:2]:

        @queue.executor("flaky", max_attempts=2)
        def flaky(payload: dict[str, int], job: Job) -> None:
            raise ValueError(f"bad row {payload['n']}" if payload["n"] % 2 else "no rate for GBP")

    queues[0].add_tasks(
        [{"name": f"t{n % 3}", "executor": "flaky", "payload": {"n": n}} for n in range(300)]
    )

    def operator() -> None:
        for _ in range(30):
            ids = [job.id for job in queues[2].get_failed_tasks(50, 0)]
            queues[2].retry_failed_tasks(ids[::2])
            time.sleep(0.01)

    threads = [
        threading.Thread(target=queue.run_worker, kwargs={"concurrency": 4, "burst": True})
        for queue in queues[:2]
    ] + [threading.Thread(target=operator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    queues[0].run_worker(concurrency=4, burst=True)  # what the last retries put back
    assert kept_counts(queues[0].backend) == recount(lambda sql: dbs.query(db_url, sql))
    assert sum(kept_counts(queues[0].backend).values()) == 300
