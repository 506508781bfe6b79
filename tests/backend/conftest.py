"""The backend conformance tier: each database driver method called directly against each real
database (as River's riverdrivertest does), not through QueueService nor a worker.

Everything here goes through three names, so that reshaping the backends into drivers changes
one line each: the ``driver`` fixture (how a driver is opened), :func:`new_job` (how a task to
insert is built) and the operations of the ``Driver`` protocol (and ``close()``); no case
touches a private attribute (but test_columns.py, which checks the statements' column lists on
the driver's own session). What a method wrote is read back with the driver itself or with raw
SQL through the ``raw`` fixture (:class:`RawSql`).

A database per backend is created and migrated once per run; every case starts from empty
tables. The backends are those of the rest of the suite (the ``backend`` fixture,
STRATIX_TEST_BACKENDS) and a fourth, ``memory``: the SQLite driver on ``sqlite:///:memory:``
(one shared connection), the in-memory driver tests/unit uses for the worker's moving parts,
which must pass the same cases. It runs when SQLite is selected (or STRATIX_TEST_BACKENDS names
``memory``); each case gets a new one, migrated by the migration runner (~2 ms).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stratix_queue import Job, QueueService
from stratix_queue.backends import open_driver
from stratix_queue.backends.arguments import ClaimParams, NewJob
from stratix_queue.backends.driver import Driver
from stratix_queue.urls import parse_url
from tests import dbs, memory
from tests.conftest import TIER_SELECTED, ServerDatabases
from tests.memory import MEMORY, memory_driver

OLD = "2000-01-01 00:00:00"  # a timestamp literal every backend compares as long past


@pytest.fixture(scope="session")
def _migrated_urls(
    server_dbs: ServerDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], str]:
    """backend -> the URL of its migrated database, made on first use."""

    def url(backend: str) -> str:
        if backend not in made:
            if backend == "sqlite":
                path: Path = tmp_path_factory.mktemp("conformance") / "queue.db"
                made[backend] = f"sqlite:///{path}"
                with QueueService(made[backend]) as queue:
                    queue.migrate()
            else:
                made[backend] = server_dbs.migrated(backend)
        return made[backend]

    made: dict[str, str] = {}
    return url


@pytest.fixture(params=TIER_SELECTED)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: the suite's, and ``memory`` (tests/memory.py)."""
    name: str = request.param
    return name


@pytest.fixture
def db_url(backend: str, _migrated_urls: Callable[[str], str]) -> str:
    """The migrated database of the backend under test, its tables emptied."""
    if backend == MEMORY:
        pytest.fail(
            "an in-memory database has no URL another connection can reach: read it back with "
            "the `raw` fixture",
            pytrace=False,
        )
    url = _migrated_urls(backend)
    dbs.clear_tables(url)
    return url


@pytest.fixture(scope="session")
def _drivers(server_dbs: ServerDatabases) -> Iterator[dict[str, Driver]]:
    """The drivers opened in this run, one per database, closed before the databases go."""
    opened: dict[str, Driver] = {}
    yield opened
    for driver in opened.values():
        driver.close()


@pytest.fixture
def driver(backend: str, request: pytest.FixtureRequest) -> Iterator[Driver]:
    """The driver under test, on a migrated database with empty tables (in memory: a new
    database per case, as fast as emptying one)."""
    if backend == MEMORY:
        driver = memory_driver()
        yield driver
        driver.close()
        return
    db_url: str = request.getfixturevalue("db_url")
    opened: dict[str, Driver] = request.getfixturevalue("_drivers")
    if db_url not in opened:
        opened[db_url] = open_driver(parse_url(db_url))  # the one line a rename touches
    yield opened[db_url]


class RawSql:
    """Raw SQL on the database under test, for reading back what a method wrote (and setting
    up what no method can): through tests/dbs.py on a database others can connect to, through
    the driver's own session in memory. SQL uses %s placeholders."""

    def __init__(self, backend: str, driver: Driver, url: str | None) -> None:
        self.backend = backend
        self._driver = driver
        self._url = url

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._url is None:
            return memory.query(self._driver, sql, params)
        return dbs.query(self._url, sql, params)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None


@pytest.fixture
def raw(backend: str, driver: Driver, request: pytest.FixtureRequest) -> RawSql:
    url = None if backend == MEMORY else str(request.getfixturevalue("db_url"))
    return RawSql(backend, driver, url)


def new_job(
    name: str = "t",
    *,
    executor: str = "e",
    payload: Any = None,
    group: str | None = None,
    priority: int = 0,
    max_attempts: int = 1,
    delay: float = 0.0,
    run_at: datetime | None = None,
    timeout: float | None = None,
) -> NewJob:
    """A task to insert, as the service layer hands it to the driver (run_at: aware or naive
    UTC; the driver takes naive UTC)."""
    if run_at is not None and run_at.tzinfo is not None:
        run_at = run_at.astimezone(UTC).replace(tzinfo=None)
    return NewJob(
        name=name,
        executor=executor,
        group=group,
        payload_json=json.dumps(payload),
        priority=priority,
        max_attempts=max_attempts,
        delay_seconds=delay,
        run_at=run_at,
        timeout_seconds=timeout,
    )


def claim(
    driver: Driver,
    token: str = "token-1",
    *,
    limit: int = 10,
    worker: str = "w1",
    lease: float = 60.0,
    groups: tuple[str, ...] | None = None,
) -> list[Job]:
    """Claim under ``token`` (a negative lease: one that has already run out)."""
    return driver.claim(
        ClaimParams(
            worker_id=worker, lease_token=token, limit=limit, lease_seconds=lease, groups=groups
        )
    )


def now() -> datetime:
    return datetime.now(UTC)


def ago(seconds: float) -> datetime:
    return now() - timedelta(seconds=seconds)


def stale(job: Job, **changes: Any) -> Job:
    """The Job as another holder would see it (another lease token, status...)."""
    return replace(job, **changes)


def status_of(driver: Driver, job_id: int) -> str | None:
    job = driver.get_job(job_id)
    return None if job is None else job.status.value


def success_rows(raw: RawSql) -> list[tuple[Any, ...]]:
    """(id, attempts, execution_time, started_at is set) of queue_success, by id."""
    return raw.query(
        "SELECT id, attempts, execution_time, started_at IS NOT NULL FROM queue_success "
        "ORDER BY id",
    )


def count(raw: RawSql, table: str, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> int:
    return int(raw.scalar(f"SELECT COUNT(*) FROM {table} WHERE {where}", params))
