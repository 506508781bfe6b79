"""Fixtures shared by every test: one behaviour suite, parametrised over the three backends.

STRATIX_TEST_BACKENDS=sqlite,postgres,mysql picks backends (default: all three); the conformance
tier (tests/backend) adds ``memory``, the SQLite driver in memory, where sqlite (or memory) is
named.
STRATIX_TEST_REQUIRE_BACKENDS=1 (set by CI) turns an unreachable server into a failure
instead of a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.memory import MEMORY

NAMED = [
    name.strip()
    for name in os.environ.get("STRATIX_TEST_BACKENDS", ",".join(dbs.BACKENDS)).split(",")
    if name.strip()
]
if set(NAMED) - {*dbs.BACKENDS, MEMORY}:
    raise ValueError(
        f"STRATIX_TEST_BACKENDS names {sorted(set(NAMED) - {*dbs.BACKENDS, MEMORY})}; "
        f"known: {[*dbs.BACKENDS, MEMORY]}"
    )
SELECTED = [name for name in NAMED if name in dbs.BACKENDS]  # the suite's backends
# The conformance tier's: the suite's and the in-memory driver (tests/memory.py).
TIER_SELECTED = [*SELECTED, MEMORY] if {"sqlite", MEMORY} & set(NAMED) else SELECTED
REQUIRED = os.environ.get("STRATIX_TEST_REQUIRE_BACKENDS") == "1"


def _need(dialect: str) -> None:
    if dialect == "sqlite":
        return
    problem = dbs.reachable(dialect)
    if problem is None:
        return
    if REQUIRED:
        pytest.fail(f"required backend missing: {problem}", pytrace=False)
    pytest.skip(problem)


class ServerDatabases:
    """Databases created on the servers during this run, dropped when it ends."""

    def __init__(self) -> None:
        self.shared: dict[str, str] = {}
        self.created: list[str] = []

    def new(self, dialect: str) -> str:
        _need(dialect)
        url = dbs.create_database(dialect)
        self.created.append(url)
        return url

    def migrated(self, dialect: str) -> str:
        if dialect not in self.shared:
            url = self.new(dialect)
            with QueueService(url) as queue:
                queue.migrate()
            self.shared[dialect] = url
        return self.shared[dialect]

    def drop_all(self) -> None:
        try:
            for url in self.created:
                dbs.drop_database(url)
        finally:
            dbs.close_admin_connections()


@pytest.fixture(scope="session")
def server_dbs() -> Iterator[ServerDatabases]:
    databases = ServerDatabases()
    yield databases
    databases.drop_all()


DESELECTED = "stratix_deselected"


def only(*names: str) -> pytest.MarkDecorator:
    """Run a test on these backends only, and of them only on those STRATIX_TEST_BACKENDS
    selects (elsewhere it is deselected, not skipped; so is a test none of whose backends is
    selected)."""
    unknown = sorted(set(names) - set(dbs.BACKENDS))
    if unknown:
        raise ValueError(f"only(): unknown backends {unknown}; known: {list(dbs.BACKENDS)}")
    chosen = [name for name in names if name in SELECTED]
    if not chosen:
        return pytest.mark.stratix_deselected  # the marker named DESELECTED
    return pytest.mark.parametrize("backend", chosen)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{DESELECTED}: set by only() when none of its backends is selected"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests only() marked: none of their backends is selected."""
    dropped = [item for item in items if item.get_closest_marker(DESELECTED)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker(DESELECTED)]


@pytest.fixture(params=SELECTED)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, server_dbs: ServerDatabases) -> str:
    """A new, empty database on the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return server_dbs.new(backend)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, server_dbs: ServerDatabases) -> str:
    """A migrated database with empty queue tables."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'queue.db'}"
        with QueueService(url) as queue:
            queue.migrate()
        return url
    url = server_dbs.migrated(backend)
    dbs.clear_tables(url)
    return url


@pytest.fixture
def queue(db_url: str) -> Iterator[QueueService]:
    with QueueService(db_url) as service:
        yield service


@pytest.fixture
def make_queue(db_url: str) -> Iterator[Callable[[], QueueService]]:
    """More QueueService instances on the same database (other 'processes' in one test)."""
    made: list[QueueService] = []

    def make() -> QueueService:
        service = QueueService(db_url)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()
