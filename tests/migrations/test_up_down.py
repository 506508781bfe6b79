"""Up, down, by hand and concurrently: every path ends in the same schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stratix_queue import MigrationError, QueueService
from tests import dbs
from tests.migrations import helpers as h

ALL_VERSIONS = h.ALL_VERSIONS


def test_up_from_empty_to_latest_then_noop(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        status = queue.migration_status()
        assert (status.current, status.applied, status.legacy) == (0, [], False)
        assert [m.version for m in status.pending] == [v for v, _ in ALL_VERSIONS]

        steps = queue.migrate()
        assert [(s.direction, s.migration.version) for s in steps] == [
            ("up", v) for v, _ in ALL_VERSIONS
        ]
        status = queue.migration_status()
        assert status.current == status.latest == h.LATEST
        assert status.pending == []
        assert status.legacy is False
        assert [(a.version, a.name) for a in status.applied] == ALL_VERSIONS
        assert all(
            a.applied_at is not None and a.applied_at.utcoffset() is not None
            for a in status.applied
        )

        assert queue.migrate() == []
        assert queue.migrate(to=h.LATEST) == []
        assert queue.migration_sql().strip() == ""
    assert h.version_rows(fresh_url) == ALL_VERSIONS
    tables = h.schema(fresh_url)["tables"]
    assert {"queue_jobs", "queue_success", "queue_groups"} <= set(tables)
    assert "queue_failures" not in tables


def test_up_down_to_zero_up_again(fresh_url: str, latest_schema: dict[str, Any]) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate()
        steps = queue.migrate(to=0)
        assert [(s.direction, s.migration.version) for s in steps] == [
            ("down", v) for v, _ in reversed(ALL_VERSIONS)
        ]
        empty = h.schema(fresh_url)
        assert empty["tables"] == ["stratix_queue_migrations"]
        assert empty["versions"] == []
        assert queue.migration_status().current == 0
        queue.migrate()
    assert h.schema(fresh_url) == latest_schema


def test_up_to_1_with_data_then_up(fresh_url: str, latest_schema: dict[str, Any]) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        h.insert_legacy_data(fresh_url)
        queue.migrate()
    assert h.schema(fresh_url) == latest_schema


def test_down_to_1_restores_the_legacy_layout(fresh_url: str, new_url: Callable[[], str]) -> None:
    legacy = new_url()
    with QueueService(legacy) as queue:
        queue.migrate(to=1)
    with QueueService(fresh_url) as queue:
        queue.migrate()
        queue.migrate(to=2)
        queue.migrate(to=1)
    assert h.schema(fresh_url) == h.schema(legacy)
    assert "metadata" in h.column_names(fresh_url, "queue_success")


def test_printed_sql_applied_by_hand(fresh_url: str, latest_schema: dict[str, Any]) -> None:
    with QueueService(fresh_url) as queue:
        script = queue.migration_sql()
        assert queue.migration_status().current == 0  # printing changed nothing
        assert h.schema(fresh_url)["tables"] == []
        assert h.apply_script(fresh_url, script) > 10
        status = queue.migration_status()
        assert (status.current, status.pending, status.legacy) == (h.LATEST, [], False)
        assert queue.migrate() == []
    assert h.schema(fresh_url) == latest_schema


def test_printed_sql_in_steps_and_down_by_hand(
    fresh_url: str, latest_schema: dict[str, Any]
) -> None:
    with QueueService(fresh_url) as queue:
        h.apply_script(fresh_url, queue.migration_sql(1))
        assert queue.migration_status().current == 1
        h.apply_script(fresh_url, queue.migration_sql())
        assert h.schema(fresh_url) == latest_schema
        h.apply_script(fresh_url, queue.migration_sql(0))
        assert queue.migration_status().current == 0
        assert h.schema(fresh_url)["tables"] == ["stratix_queue_migrations"]
        h.apply_script(fresh_url, queue.migration_sql())
    assert h.schema(fresh_url) == latest_schema


def test_printed_sql_upgrades_a_legacy_database_by_hand(
    fresh_url: str, latest_schema: dict[str, Any]
) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        ids = h.insert_legacy_data(fresh_url)
        dbs.query(fresh_url, "DROP TABLE stratix_queue_migrations")
        assert queue.migration_status().legacy is True
        h.apply_script(fresh_url, queue.migration_sql())
        status = queue.migration_status()
        assert (status.current, status.legacy) == (h.LATEST, False)
    assert h.schema(fresh_url) == latest_schema
    remaining = {int(r[0]) for r in dbs.query(fresh_url, "SELECT id FROM queue_jobs")}
    remaining |= {int(r[0]) for r in dbs.query(fresh_url, "SELECT id FROM queue_success")}
    assert remaining == set(ids.values())


def test_bad_target_changes_nothing_at_version_1(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        before = h.schema(fresh_url)
        for target in (99, h.LATEST + 1, -1):
            with pytest.raises(MigrationError, match=str(target)):
                queue.migrate(to=target)
            with pytest.raises(MigrationError):
                queue.migration_sql(target)
        assert queue.migration_status().current == 1
    assert h.schema(fresh_url) == before


def test_bad_target_on_an_empty_database_creates_nothing(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        for target in (99, -1):
            with pytest.raises(MigrationError):
                queue.migrate(to=target)
        assert queue.migration_status().current == 0
    assert h.schema(fresh_url)["tables"] == []


def test_bad_target_on_a_legacy_database_changes_nothing(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        dbs.query(fresh_url, "DROP TABLE stratix_queue_migrations")
        before = h.schema(fresh_url)
        for target in (99, -1):
            with pytest.raises(MigrationError):
                queue.migrate(to=target)
        assert queue.migration_status().legacy is True
    assert h.schema(fresh_url) == before


def test_concurrent_migrate_applies_each_version_once(
    fresh_url: str, new_url: Callable[[], str]
) -> None:
    for url in _urls(fresh_url, new_url):
        results = h.migrate_together(url, workers=3)
        assert len(results) == 3
        assert sorted(v for steps in results for v in steps) == [v for v, _ in ALL_VERSIONS]
        assert h.version_rows(url) == ALL_VERSIONS
        with QueueService(url) as queue:
            status = queue.migration_status()
            assert (status.current, status.pending) == (h.LATEST, [])
            job = queue.add_task(name="after-race", executor="x")
            assert queue.get_task(job.id) is not None


def _urls(first: str, new_url: Callable[[], str]) -> Iterator[str]:
    """Two rounds: a race is a matter of timing, so give it two chances to show up."""
    yield first
    yield new_url()


def test_concurrent_migrate_of_a_legacy_database(
    backend: str, fresh_url: str, new_url: Callable[[], str]
) -> None:
    for url in _urls(fresh_url, new_url):
        with QueueService(url) as queue:
            queue.migrate(to=1)
        ids = h.insert_legacy_data(url)
        dbs.query(url, "DROP TABLE stratix_queue_migrations")
        results = h.migrate_together(url, workers=3)
        assert sorted(v for steps in results for v in steps) == h.ABOVE_1
        assert h.version_rows(url) == ALL_VERSIONS
        remaining = {int(r[0]) for r in dbs.query(url, "SELECT id FROM queue_jobs")}
        remaining |= {int(r[0]) for r in dbs.query(url, "SELECT id FROM queue_success")}
        assert remaining == set(ids.values())
