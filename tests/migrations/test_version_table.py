"""The version table's method column: how each version got there. A version table made before
it (every row applied by its up script) gets it from `migrate`, under the migration lock."""

from __future__ import annotations

from typing import Any

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.migrations import helpers as h


def _without_method(url: str, to: int) -> None:
    """A database at version ``to`` whose version table an older release made."""
    with QueueService(url) as queue:
        queue.migrate(to=1)
        queue.migrate(to=to)
    dbs.query(url, "ALTER TABLE stratix_queue_migrations DROP COLUMN method")
    assert "method" not in h.column_names(url, "stratix_queue_migrations")


@pytest.mark.parametrize("by_hand", [False, True], ids=["migrate", "sql-by-hand"])
def test_an_old_version_table_gets_the_method_column(
    fresh_url: str, latest_schema: dict[str, Any], by_hand: bool
) -> None:
    _without_method(fresh_url, to=3)
    with QueueService(fresh_url) as queue:
        status = queue.migration_status()  # reads the old table as it is
        assert status.current == 3
        assert [a.method for a in status.applied] == ["applied"] * 3
        script = queue.migration_sql()
        assert script.startswith("ALTER TABLE stratix_queue_migrations ADD COLUMN method")
        if by_hand:
            h.apply_script(fresh_url, script)
        else:
            queue.migrate()
        assert [a.method for a in queue.migration_status().applied] == ["applied"] * h.LATEST
    assert h.schema(fresh_url) == latest_schema


def test_up_to_date_but_without_the_method_column(fresh_url: str) -> None:
    _without_method(fresh_url, to=h.LATEST)
    with QueueService(fresh_url) as queue:
        assert queue.migration_sql().startswith("ALTER TABLE stratix_queue_migrations")
        assert queue.migrate() == []  # nothing to apply, but the column is added
        assert queue.migration_sql().strip() == ""
    assert "method" in h.column_names(fresh_url, "stratix_queue_migrations")


def test_concurrent_migrators_add_the_column_once(fresh_url: str) -> None:
    _without_method(fresh_url, to=1)
    results = h.migrate_together(fresh_url, workers=3)
    assert sorted(v for steps in results for v in steps) == h.ABOVE_1
    methods = dbs.query(fresh_url, "SELECT version, method FROM stratix_queue_migrations")
    assert sorted((int(v), m) for v, m in methods) == [(v, "applied") for v, _ in h.ALL_VERSIONS]
