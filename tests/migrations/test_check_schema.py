"""QueueService.check_schema: what a worker checks before it starts, without the runner."""

from __future__ import annotations

import pytest

from stratix_queue import QueueService, SchemaNotReadyError
from stratix_queue.backends import migrations_dir
from stratix_queue.migrations import latest_version
from stratix_queue.migrations.runner import load_migrations
from stratix_queue.urls import parse_url


def test_check_schema_passes_only_at_the_latest_version(backend: str, fresh_url: str) -> None:
    dialect = parse_url(fresh_url).dialect
    latest = latest_version(migrations_dir(dialect))
    assert latest == load_migrations(migrations_dir(dialect))[-1].version
    with QueueService(fresh_url) as queue:
        with pytest.raises(SchemaNotReadyError, match=f"version 0, not {latest}"):
            queue.check_schema()
        queue.migrate(latest - 1)
        with pytest.raises(SchemaNotReadyError, match=f"version {latest - 1}, not {latest}"):
            queue.check_schema()
        queue.migrate()
        queue.check_schema()
