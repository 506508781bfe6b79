"""Unit tests of the worker's moving parts run on the in-memory driver (tests/memory.py): the
SQLite driver on ``sqlite:///:memory:``, which passes the conformance tier (tests/backend)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stratix_queue.backends.arguments import ClaimParams, NewJob
from stratix_queue.backends.driver import Driver
from stratix_queue.job import Job
from tests.memory import memory_driver


@pytest.fixture
def driver() -> Iterator[Driver]:
    """A new, migrated in-memory database."""
    driver = memory_driver()
    yield driver
    driver.close()


def add(
    driver: Driver, count: int = 1, *, max_attempts: int = 3, group: str | None = None
) -> list[Job]:
    """Insert ``count`` waiting tasks, t0, t1...; payload: their index."""
    return driver.insert_jobs(
        [
            NewJob(
                name=f"t{i}",
                executor="e",
                group=group,
                payload_json=json.dumps(i),
                priority=0,
                max_attempts=max_attempts,
                delay_seconds=0.0,
                run_at=None,
                timeout_seconds=None,
            )
            for i in range(count)
        ]
    )


def claim(driver: Driver, token: str = "T", *, limit: int = 10, lease: float = 60.0) -> list[Job]:
    """Claim for worker w1 under ``token`` (a negative lease: one that has run out already)."""
    return driver.claim(ClaimParams("w1", token, limit, lease))


def stored(driver: Driver, job: Job) -> Job:
    found = driver.get_job(job.id)
    assert found is not None, f"task {job.id} is no longer in queue_jobs"
    return found


def status(driver: Driver, job: Job) -> str | None:
    found = driver.get_job(job.id)
    return None if found is None else found.status.value
