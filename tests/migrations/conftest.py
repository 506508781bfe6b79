"""Fixtures of the migration tests: more databases, and the reference latest schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratix_queue import QueueService
from tests.conftest import ServerDatabases
from tests.migrations import helpers as h


@pytest.fixture
def new_url(backend: str, tmp_path: Path, server_dbs: ServerDatabases) -> Callable[[], str]:
    """Make more empty databases on the backend under test."""
    made = iter(range(1000))

    def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'extra{next(made)}.db'}"
        return server_dbs.new(backend)

    return make


@pytest.fixture(scope="session")
def _latest_schemas() -> dict[str, dict[str, Any]]:
    return {}


@pytest.fixture
def latest_schema(
    backend: str, new_url: Callable[[], str], _latest_schemas: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The reference: the schema the numbered migrations make from an empty database, one
    after the other (made once per backend and run). An empty database migrated to the latest
    in one go gets schema.sql instead: test_schema_file.py holds the two equal."""
    if backend not in _latest_schemas:
        url = new_url()
        with QueueService(url) as queue:
            queue.migrate(to=1)
            assert len(queue.migrate()) == h.LATEST - 1
        _latest_schemas[backend] = h.schema(url)
    return _latest_schemas[backend]
