"""insert_jobs, get_job, count_by_status, list_jobs and current_version, called directly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stratix_queue import JobStatus
from stratix_queue.backends.arguments import JobFilter
from stratix_queue.backends.driver import Driver
from stratix_queue.migrations.runner import load_migrations
from tests.backend.conftest import RawSql, ago, claim, count, new_job, now


def test_insert_one_comes_back_as_get_job_reads_it(driver: Driver, raw: RawSql) -> None:
    before = now()
    [job] = driver.insert_jobs(
        [
            new_job(
                "one",
                executor="ex",
                payload={"k": [1, "é"]},
                group="g",
                priority=3,
                max_attempts=4,
                timeout=2.5,
            )
        ]
    )
    assert (job.name, job.executor, job.payload, job.group) == ("one", "ex", {"k": [1, "é"]}, "g")
    assert (job.status, job.priority, job.attempts, job.max_attempts) == (
        JobStatus.WAITING,
        3,
        0,
        4,
    )
    assert job.timeout == 2.5
    assert job.lease_token is None and job.locked_by is None and job.started_at is None
    assert job.created_at is not None and job.run_at == job.created_at
    assert before - timedelta(seconds=2) < job.created_at < now() + timedelta(seconds=2)
    assert driver.get_job(job.id) == job
    assert count(raw, "queue_jobs") == 1


def test_insert_many_keeps_the_order_with_increasing_ids(driver: Driver) -> None:
    jobs = driver.insert_jobs([new_job(f"n{i}", payload=i, priority=i % 3) for i in range(7)])
    assert [job.name for job in jobs] == [f"n{i}" for i in range(7)]
    assert [job.payload for job in jobs] == list(range(7))
    ids = [job.id for job in jobs]
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert all(job.status is JobStatus.WAITING for job in jobs)
    assert [driver.get_job(job.id) for job in jobs] == jobs
    more = driver.insert_jobs([new_job("later"), new_job("later2")])
    assert more[0].id > ids[-1]


def test_insert_nothing(driver: Driver, raw: RawSql) -> None:
    assert driver.insert_jobs([]) == []
    assert count(raw, "queue_jobs") == 0


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
def test_insert_status_delayed_and_paused(driver: Driver, batch: bool) -> None:
    """A delay or a run_at (even a past one) makes a delayed task; a paused group's task is
    paused, whether it is delayed or not. The one-task and the batch statements agree."""
    assert driver.set_group_paused("stopped", True) == 0
    due = ago(30).replace(microsecond=0)
    specs = [
        new_job("plain"),
        new_job("delay", delay=60),
        new_job("run_at", run_at=due),
        new_job("paused", group="stopped"),
        new_job("paused-delayed", group="stopped", delay=60),
        new_job("other-group", group="running"),
    ]
    if batch:  # insert_jobs' statement
        jobs = driver.insert_jobs(specs)
    else:  # insert_job_row's
        jobs = [job for spec in specs for job in driver.insert_jobs([spec])]
    by_name = {job.name: job for job in jobs}
    assert {name: job.status.value for name, job in by_name.items()} == {
        "plain": "waiting",
        "delay": "delayed",
        "run_at": "delayed",
        "paused": "paused",
        "paused-delayed": "paused",
        "other-group": "waiting",
    }
    delayed = by_name["delay"]
    assert delayed.run_at is not None and delayed.created_at is not None
    assert timedelta(seconds=59) < delayed.run_at - delayed.created_at < timedelta(seconds=61)
    assert by_name["run_at"].run_at == due
    for job in jobs:  # what the driver answered is what it stored
        assert driver.get_job(job.id) == job


def test_get_job_of_a_missing_id_is_none(driver: Driver) -> None:
    [job] = driver.insert_jobs([new_job()])
    assert driver.get_job(job.id + 1000) is None
    assert driver.get_job(2**62) is None


def test_count_by_status_names_only_the_statuses_present(driver: Driver) -> None:
    assert driver.count_by_status() == {}
    driver.set_group_paused("p", True)
    driver.insert_jobs(
        [new_job("a"), new_job("b"), new_job("c"), new_job("d", delay=60), new_job(group="p")]
    )
    claim(driver, limit=1)
    assert driver.count_by_status() == {"waiting": 2, "executing": 1, "delayed": 1, "paused": 1}


def test_list_jobs_filters_and_pages_in_id_order(driver: Driver) -> None:
    jobs = driver.insert_jobs(
        [
            new_job("a", executor="x", group="g1"),
            new_job("b", executor="y", group="g1"),
            new_job("c", executor="x", group="g2"),
            new_job("d", executor="x", group="g1", delay=60),
            new_job("e", executor="x"),
        ]
    )
    a, b, c, d, e = (job.id for job in jobs)

    def ids(limit: int = 100, offset: int = 0, **filters: str) -> list[int]:
        return [job.id for job in driver.list_jobs(JobFilter(**filters), limit, offset)]

    assert ids() == [a, b, c, d, e]
    assert ids(status="waiting") == [a, b, c, e]
    assert ids(status="delayed") == [d]
    assert ids(group="g1") == [a, b, d]
    assert ids(executor="x") == [a, c, d, e]
    assert ids(status="waiting", group="g1", executor="x") == [a]
    assert ids(status="failed") == []
    assert ids(limit=2) == [a, b]
    assert ids(limit=2, offset=2) == [c, d]
    assert ids(limit=2, offset=4) == [e]
    listed = driver.list_jobs(JobFilter(group="g2"), 10, 0)
    assert listed == [driver.get_job(c)]


def test_current_version_is_the_newest_migration(driver: Driver, raw: RawSql) -> None:
    latest = max(migration.version for migration in load_migrations(driver.migrations_dir))
    assert driver.current_version() == latest
    assert raw.scalar("SELECT MAX(version) FROM stratix_queue_migrations") == latest
