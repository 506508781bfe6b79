"""Migration 006 (the ledgers): a version-5 database with rows in every table upgrades with its
failed tasks counted (and fingerprinted), the new tables take rows, and down to 5 then up again
loses no row of the tables version 5 had."""

from __future__ import annotations

from collections.abc import Callable

from stratix_queue import QueueService
from tests import dbs
from tests.ledger import kept_counts, recount
from tests.migrations import helpers as h

V5_TABLES = ("queue_jobs", "queue_success", "queue_groups", "queue_workers", "queue_job_errors")
NEW_TABLES = (
    "queue_failure_counts",
    "queue_removed",
    "queue_payload_history",
    "queue_audit",
    "queue_plans",
    "queue_plan_items",
    "queue_rollups",
)


def _fill_version_5(url: str) -> None:
    """A task in every status, failures under two codes, a success, a paused group, a worker
    and attempt errors, as version-5 code writes them."""
    with QueueService(url) as queue:
        queue.migrate(to=5)
        # as version-5 code pauses a group (pause_group now audits, in a table 006 adds)
        dbs.query(url, "INSERT INTO queue_groups (group_name, status) VALUES ('frozen', 'paused')")
        h.add_old_tasks(
            url,
            [
                ("waiting", None, "waiting", 0),
                ("delayed", None, "delayed", 0),
                ("paused", "frozen", "paused", 0),
                ("done", None, "waiting", 0),
            ],
        )
    h.run_many(
        url,
        [
            (
                "INSERT INTO queue_jobs (job_name, executor, group_name, payload, status, attempts,"
                " error_message, error_stack, error_code, failed_at) VALUES"
                " (%s, 'convert', %s, '{}', 'failed', 1, %s, NULL, %s, '2026-12-01 10:00:00')",
                (name, group, message, code),
            )
            for name, group, message, code in (
                ("f1", "fx", "no exchange rate for GBP", "LookupError"),
                ("f2", "fx", "no exchange rate for JPY", "LookupError"),
                ("f3", None, "timeout after 30 s", "TIMEOUT"),
            )
        ]
        + [
            ("UPDATE queue_jobs SET status = 'executing' WHERE job_name = 'waiting'", ()),
            (
                "INSERT INTO queue_success (id, job_name, executor, payload, attempts,"
                " execution_time, created_at) VALUES (900, 'old', 'e', '{}', 1, 5,"
                " '2026-01-01 00:00:00')",
                (),
            ),
            (
                "INSERT INTO queue_workers (id, hostname, pid, concurrency) "
                "VALUES ('w1', 'h', 1, 4)",
                (),
            ),
            (
                "INSERT INTO queue_job_errors (job_id, attempt, error_message, error_code) "
                "VALUES (1, 1, 'first try', 'E')",
                (),
            ),
        ],
    )


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    return {table: dbs.query(url, f"SELECT * FROM {table} ORDER BY 1, 2") for table in V5_TABLES}


def test_upgrade_counts_and_fingerprints_the_failed_tasks(new_url: Callable[[], str]) -> None:
    url = new_url()
    _fill_version_5(url)
    with QueueService(url) as queue:
        queue.migrate()
        assert kept_counts(queue.backend) == recount(lambda sql: dbs.query(url, sql))
        marks = dict(
            dbs.query(url, "SELECT job_name, fingerprint FROM queue_jobs WHERE status = 'failed'")
        )
        assert marks["f1"] == marks["f2"] != marks["f3"]
        assert sum(kept_counts(queue.backend).values()) == 3
        assert queue.get_failed_tasks_stats().total == 3


def test_down_to_5_and_up_again_keep_every_row(new_url: Callable[[], str]) -> None:
    url, at_5 = new_url(), new_url()
    with QueueService(at_5) as queue:
        queue.migrate(to=5)
    _fill_version_5(url)
    with QueueService(url) as queue:
        queue.migrate(to=6)
        before = _rows(url)
        failed = [job.id for job in queue.get_failed_tasks()]
        queue.migrate()  # today's retry reads columns of the latest schema (unique keys, 007)
        queue.retry_failed_task(failed[0])  # writes to the ledger's tables
        queue.migrate(to=6)
        h.run_many(
            url,
            [
                (
                    "INSERT INTO queue_audit (actor, action, target, count) "
                    "VALUES ('ann', 'retry', '[1]', 1)",
                    (),
                )
            ],
        )
        after_retry = _rows(url)
        queue.migrate(to=5)
        assert h.schema(url) == h.schema(at_5)
        assert _rows(url) == {
            table: [
                row[:-1] if table in ("queue_jobs", "queue_job_errors") else row for row in rows
            ]
            for table, rows in after_retry.items()
        }
        queue.migrate(to=6)
        assert [r[:-1] for r in _rows(url)["queue_jobs"]] == [
            r[:-1] for r in after_retry["queue_jobs"]
        ]
        assert kept_counts(queue.backend) == recount(lambda sql: dbs.query(url, sql))
    assert set(before) == set(V5_TABLES)
    for table in NEW_TABLES:
        assert dbs.scalar(url, f"SELECT COUNT(*) FROM {table}") is not None
