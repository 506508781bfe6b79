"""A database a DBA migrated by hand with the seed's manual migration ("手动迁移"), in whole or in
part: `migrate` recognises what is in place, finishes the rest of 002 (the legacy failures, the
id counter, queue_failures, metadata, our column types), records 002 as adopted and carries on
to the latest version with every row kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stratix_queue import Job, JobStatus, QueueService
from tests import dbs
from tests.conftest import only
from tests.migrations import helpers as h

ALL_PARTS = ["error_columns", "failed_status", "success_without_metadata"]

# what a DBA ran by hand -> the parts of 002 that `migrate` finds in place
HAND_RUNS = {
    "all": (h.SEED_MANUAL_MIGRATION, ALL_PARTS),
    "columns": (h.SEED_ADD_COLUMNS, ["error_columns"]),
    "columns+check": (
        h.SEED_ADD_COLUMNS + h.SEED_DROP_CHECK + h.SEED_ADD_CHECK,
        ["error_columns", "failed_status"],
    ),
    # stopped between dropping the old check and adding the new one
    "columns+check-dropped": (h.SEED_ADD_COLUMNS + h.SEED_DROP_CHECK, ["error_columns"]),
}
SQLITE_HAND_RUNS = {
    "columns": (h.SQLITE_ADD_COLUMNS, ["error_columns"]),
    "columns+metadata": (
        h.SQLITE_ADD_COLUMNS + h.SEED_DROP_METADATA,
        ["error_columns", "success_without_metadata"],
    ),
}

# both starting points: a version table that says 1, and none (recognised as version 1)
VERSION_TABLE = pytest.mark.parametrize(
    "version_table", [True, False], ids=["version-table", "no-version-table"]
)


def at_version_1(url: str, version_table: bool) -> dict[str, int]:
    """A pre-update database with rows in every table, with or without its version table."""
    with QueueService(url) as queue:
        queue.migrate(to=1)
    ids = h.insert_legacy_data(url)
    if not version_table:
        dbs.query(url, "DROP TABLE stratix_queue_migrations")
    return ids


def assert_adopted(queue: QueueService, version_table: bool) -> None:
    """`migrate` went to the latest version, recording 002 as adopted."""
    status = queue.migration_status()
    assert (status.current, status.pending, status.legacy, status.in_place) == (
        h.LATEST,
        [],
        False,
        {},
    )
    methods = {a.version: a.method for a in status.applied}
    assert methods == {
        1: "applied" if version_table else "legacy",
        2: "adopted",
        **{version: "applied" for version in h.ABOVE_1 if version > 2},
    }


def migrate_and_check(url: str, version_table: bool, found: list[str]) -> None:
    with QueueService(url) as queue:
        status = queue.migration_status()
        assert (status.current, status.legacy) == (1, not version_table)
        assert status.in_place == {2: found}  # seen before anything runs
        steps = queue.migrate()
        assert [(s.migration.version, s.method, list(s.found)) for s in steps] == [
            (2, "adopted", found),
            *[(version, "applied", []) for version in h.ABOVE_1 if version > 2],
        ]
        assert_adopted(queue, version_table)


@only("postgres", "mysql")
@VERSION_TABLE
def test_seed_manual_migration_then_migrate(
    fresh_url: str, latest_schema: dict[str, Any], version_table: bool
) -> None:
    ids = at_version_1(fresh_url, version_table)
    h.apply_script(fresh_url, h.SEED_MANUAL_MIGRATION)  # verbatim, as the seed prints it
    migrate_and_check(fresh_url, version_table, ALL_PARTS)
    assert h.schema(fresh_url) == latest_schema  # as if migrated the usual way

    with QueueService(fresh_url) as queue:  # down then up loses no row
        before = h.snapshot(fresh_url)
        queue.migrate(to=1)
        assert "queue_failures" in h.schema(fresh_url)["tables"]
        again = [(s.migration.version, s.method) for s in queue.migrate()]
        assert again == [(version, "applied") for version in h.ABOVE_1]  # nothing to adopt now
        assert h.snapshot(fresh_url) == before

    h.assert_upgraded(fresh_url, ids)  # the failures are back, retryable; new ids are fresh
    assert_a_worker_runs(fresh_url, ids)


def assert_a_worker_runs(url: str, ids: dict[str, int]) -> None:
    """A real worker runs the runnable tasks (the retried legacy failures among them) into
    queue_success; paused, delayed and still-leased tasks stay where they are."""
    ran: list[int] = []
    with QueueService(url) as queue:
        for executor in ("mail", "report"):

            @queue.executor(executor)
            def run(payload: Any, job: Job) -> None:
                ran.append(job.id)

        runnable = {job_id for job_id, status in _statuses(url).items() if status == "waiting"}
        assert {ids[name] for name in h.LEGACY_ERRORS} | {ids["legacy-waiting"]} <= runnable
        queue.run_worker(concurrency=2, burst=True)
        assert queue.get_failed_tasks(100, 0) == []
    assert set(ran) == runnable
    succeeded = {int(r[0]) for r in dbs.query(url, "SELECT id FROM queue_success")}
    assert runnable <= succeeded
    left = {ids[n]: s for n, _, _, s, where in h.LEGACY_ROWS if where == "jobs" and s != "waiting"}
    assert _statuses(url) == left


def _statuses(url: str) -> dict[int, str]:
    return {int(i): s for i, s in dbs.query(url, "SELECT id, status FROM queue_jobs")}


def hand_run_then_migrate(
    url: str, latest_schema: dict[str, Any], version_table: bool, hand_run: tuple[str, list[str]]
) -> dict[str, int]:
    """At version 1 with rows, ``hand_run``'s script run by hand, then `migrate`: 002 adopted
    with the expected parts found, the schema as a normal upgrade's, every row kept."""
    script, found = hand_run
    ids = at_version_1(url, version_table)
    h.apply_script(url, script)
    # a note someone kept in a hand-added column stays (SQLite: the rebuild of queue_jobs copies it)
    note = "UPDATE queue_jobs SET error_code = 'NOTE' WHERE id = %s"
    dbs.query(url, note, [ids["legacy-waiting"]])
    migrate_and_check(url, version_table, found)
    assert h.schema(url) == latest_schema
    kept = dbs.scalar(
        url, "SELECT error_code FROM queue_jobs WHERE id = %s", [ids["legacy-waiting"]]
    )
    assert kept == "NOTE"
    h.assert_upgraded(url, ids)
    return ids


@only("postgres", "mysql")
@pytest.mark.parametrize("hand_run", list(HAND_RUNS))
@VERSION_TABLE
def test_partial_hand_runs(
    fresh_url: str, latest_schema: dict[str, Any], version_table: bool, hand_run: str
) -> None:
    hand_run_then_migrate(fresh_url, latest_schema, version_table, HAND_RUNS[hand_run])


@only("sqlite")
@pytest.mark.parametrize("hand_run", list(SQLITE_HAND_RUNS))
@VERSION_TABLE
def test_sqlite_columns_added_by_hand(
    fresh_url: str, latest_schema: dict[str, Any], version_table: bool, hand_run: str
) -> None:
    ids = hand_run_then_migrate(fresh_url, latest_schema, version_table, SQLITE_HAND_RUNS[hand_run])
    assert_a_worker_runs(fresh_url, ids)


@only("postgres", "mysql")
def test_rows_the_new_code_wrote_after_the_hand_run_are_kept(
    backend: str, fresh_url: str, new_url: Callable[[], str], latest_schema: dict[str, Any]
) -> None:
    """The seed's own code, deployed after the hand run, marks failures in place (in the
    hand-added TIMESTAMP column on MariaDB); legacy rows with ids above the id counter too.
    The printed SQL, applied by a DBA in a session that is not in UTC, keeps every time."""
    at_version_1(fresh_url, version_table=False)
    h.apply_script(fresh_url, h.SEED_MANUAL_MIGRATION)
    failed_at = "2024-03-01 12:00:00"
    h.run_many(
        fresh_url,
        [
            (
                "INSERT INTO queue_jobs (job_name, executor, payload, status, error_message, "
                "error_code, failed_at) VALUES ('new-code', 'mail', '{}', 'failed', 'new', "
                "'E_NEW', %s)",
                [failed_at],
            ),
            (
                "INSERT INTO queue_failures (id, job_name, executor, payload, created_at, "
                "failed_at) VALUES (5000, 'high', 'mail', '{}', %s, %s)",
                [h.OLD, failed_at],
            ),
        ],
    )
    with QueueService(fresh_url) as queue:
        script = queue.migration_sql()
        assert "-- up: 002_add_failed_status (adopted: " in script
        setup = "SET time_zone = '+02:00'" if backend == "mysql" else "SET TIME ZONE 'Asia/Tokyo'"
        h.apply_script(fresh_url, script, setup=setup)
        assert_adopted(queue, version_table=False)
        assert queue.migrate() == []
        failures = {job.name: job for job in queue.get_failed_tasks(100, 0)}
        assert failures["new-code"].failed_at == h.utc(failed_at)
        assert failures["new-code"].error_code == "E_NEW"
        assert failures["high"].id == 5000
        assert failures["high"].failed_at == h.utc(failed_at)
        new = queue.add_task(name="after", executor="mail")
        assert new.id > 5000
        assert queue.retry_failed_task(5000) is True
        assert queue.get_task(5000).status is JobStatus.WAITING  # type: ignore[union-attr]
    assert h.schema(fresh_url) == latest_schema
