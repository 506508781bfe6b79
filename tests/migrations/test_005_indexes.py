"""Migration 005 (leaner indexes): the index set it leaves on queue_jobs, its down step back to
exactly the version-4 schema, and every row kept across down and up again."""

from __future__ import annotations

from collections.abc import Callable

from stratix_queue import QueueService
from tests import dbs
from tests.migrations import helpers as h

# the secondary indexes of queue_jobs at version 5 (the primary key aside)
INDEXES = {
    "sqlite": {
        "idx_queue_jobs_claim",
        "idx_queue_jobs_delayed",
        "idx_queue_jobs_executing",
        "idx_queue_jobs_failed",
        "idx_queue_jobs_group",
    },
    "postgres": {
        "idx_queue_jobs_claim",
        "idx_queue_jobs_delayed",
        "idx_queue_jobs_executing",
        "idx_queue_jobs_failed",
        "idx_queue_jobs_group",
    },
    "mysql": {
        "idx_queue_jobs_claim",
        "idx_queue_jobs_status_run_at",
        "idx_queue_jobs_failed",
        "idx_queue_jobs_group",
    },
}


def _job_indexes(url: str) -> set[str]:
    dialect = h.dialect(url)
    rows = h.schema(url)["indexes"]
    if dialect == "mysql":  # (table, index, seq, column, ...): one row per key part
        return {row[1] for row in rows if row[0] == "queue_jobs" and row[1] != "PRIMARY"}
    names = {row[1] for row in rows if row[0] == "queue_jobs"}
    return {name for name in names if name.startswith("idx_")}


def test_version_5_indexes(backend: str, new_url: Callable[[], str]) -> None:
    url = new_url()
    with QueueService(url) as queue:
        queue.migrate(to=5)
    assert _job_indexes(url) == INDEXES[backend]


def test_down_to_4_is_the_version_4_schema(new_url: Callable[[], str]) -> None:
    at_4, round_trip = new_url(), new_url()
    with QueueService(at_4) as queue:
        queue.migrate(to=4)
    with QueueService(round_trip) as queue:
        queue.migrate(to=5)
        queue.migrate(to=4)
    assert h.schema(round_trip) == h.schema(at_4)


def test_down_and_up_keep_every_row(backend: str, new_url: Callable[[], str]) -> None:
    url = new_url()
    with QueueService(url) as queue:
        queue.migrate(to=5)
        # as version-5 code pauses a group (pause_group now audits, in a table 006 adds)
        dbs.query(url, "INSERT INTO queue_groups (group_name, status) VALUES ('frozen', 'paused')")
        h.add_old_tasks(
            url,
            [
                ("waiting", None, "waiting", 3),
                ("delayed", None, "delayed", 0),
                ("paused", "frozen", "paused", 0),
                ("grouped", "reports", "waiting", 0),
                ("failing", None, "waiting", 0),
            ],
        )
        dbs.query(
            url,
            "UPDATE queue_jobs SET status = 'failed', failed_at = created_at, error_code = 'E' "
            "WHERE job_name = 'failing'",
        )
        before = dbs.query(url, "SELECT id, job_name, status FROM queue_jobs ORDER BY id")
        queue.migrate(to=4)
        assert dbs.query(url, "SELECT id, job_name, status FROM queue_jobs ORDER BY id") == before
        queue.migrate(to=5)
        assert dbs.query(url, "SELECT id, job_name, status FROM queue_jobs ORDER BY id") == before
        assert [job.name for job in queue.get_failed_tasks()] == ["failing"]
    assert _job_indexes(url) == INDEXES[backend]
