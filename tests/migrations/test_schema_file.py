"""schema.sql, the latest schema in one script: what an empty database gets from `migrate`
and from `migrate --sql`, equal to what the numbered migrations make one after the other."""

from __future__ import annotations

from typing import Any

from stratix_queue import QueueService
from stratix_queue.backends import migrations_dir
from stratix_queue.migrations.runner import load_schema
from tests.migrations import helpers as h


def test_schema_file_equals_the_migrations_step_by_step(
    fresh_url: str, latest_schema: dict[str, Any]
) -> None:
    """Columns (type, nullability, default), indexes and constraints, on every backend: a new
    migration that schema.sql does not follow fails here."""
    with QueueService(fresh_url) as queue:
        steps = queue.migrate()
        assert [(s.direction, s.migration.version, s.method) for s in steps] == [
            ("up", version, "schema") for version, _ in h.ALL_VERSIONS
        ]
        assert [a.method for a in queue.migration_status().applied] == ["schema"] * h.LATEST
    assert h.schema(fresh_url) == latest_schema


def test_sql_on_an_empty_database_is_the_fresh_install(
    fresh_url: str, latest_schema: dict[str, Any]
) -> None:
    """No pre-update layout, nothing moved from it: the latest schema and the bookkeeping,
    exactly what `migrate` runs there."""
    with QueueService(fresh_url) as queue:
        script = queue.migration_sql()
        assert script.startswith("-- install: schema.sql, the latest schema (")
        for legacy in ("queue_failures", "metadata", "DROP ", "ALTER TABLE"):
            assert legacy not in script, legacy
        schema = load_schema(migrations_dir(h.dialect(fresh_url)))
        assert schema is not None
        statements = h.split_script(script)
        tables = h.split_script(schema)
        assert statements[0].startswith("CREATE TABLE IF NOT EXISTS stratix_queue_migrations")
        assert statements[1 : 1 + len(tables)] == tables
        assert statements[1 + len(tables) :] == [
            "INSERT INTO stratix_queue_migrations (version, name, method) "
            f"VALUES ({version}, '{name}', 'schema')"
            for version, name in h.ALL_VERSIONS
        ]
        assert h.schema(fresh_url)["tables"] == []  # printing changed nothing

        h.apply_script(fresh_url, script)
        status = queue.migration_status()
        assert (status.current, status.pending) == (h.LATEST, [])
        assert [a.method for a in status.applied] == ["schema"] * h.LATEST
        assert queue.migrate() == []
    assert h.schema(fresh_url) == latest_schema


def test_not_to_the_latest_goes_step_by_step(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        assert "-- up: 001_initial" in queue.migration_sql(2)
        steps = queue.migrate(to=2)
        assert [(s.migration.version, s.method) for s in steps] == [(1, "applied"), (2, "applied")]
