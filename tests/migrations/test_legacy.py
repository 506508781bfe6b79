"""Upgrading a pre-update database with data, down-then-up, and the status CHECK constraint."""

from __future__ import annotations

from typing import Any

import pytest

from stratix_queue import Job, QueueService
from tests import dbs
from tests.conftest import only
from tests.migrations import helpers as h


def test_legacy_upgrade_keeps_every_row(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        ids = h.insert_legacy_data(fresh_url)
        assert set(h.column_names(fresh_url, "queue_success")) >= {"metadata"}
        steps = queue.migrate()
        assert [(s.direction, s.migration.version) for s in steps] == [("up", v) for v in h.ABOVE_1]
        assert queue.migration_status().current == queue.migration_status().latest
    h.assert_upgraded(fresh_url, ids)
    assert dbs.query(fresh_url, "SELECT group_name, status FROM queue_groups") == [
        ("frozen", "paused")
    ]


def test_legacy_without_version_table_is_detected_and_upgraded(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        ids = h.insert_legacy_data(fresh_url)
        dbs.query(fresh_url, "DROP TABLE stratix_queue_migrations")

        status = queue.migration_status()
        assert status.legacy is True
        assert status.current == 1
        assert [a.version for a in status.applied] == [1]
        assert [m.version for m in status.pending] == h.ABOVE_1

        steps = queue.migrate()
        assert [(s.direction, s.migration.version) for s in steps] == [("up", v) for v in h.ABOVE_1]
        status = queue.migration_status()
        assert (status.legacy, status.current, status.pending) == (False, h.LATEST, [])
    assert h.version_rows(fresh_url) == h.ALL_VERSIONS
    h.assert_upgraded(fresh_url, ids)


class BoomError(Exception):
    code = "E_BOOM"


def test_down_then_up_loses_no_row(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate()

        @queue.executor("ok")
        def ok(payload: Any, job: Job) -> None:
            return None

        @queue.executor("boom")
        def boom(payload: Any, job: Job) -> None:
            raise BoomError(f"boom {payload['n']}")

        queue.add_tasks(
            [
                {"name": "s1", "executor": "ok", "payload": {"n": 1}},
                {"name": "f1", "executor": "boom", "payload": {"n": 2}, "group": "g1"},
                {"name": "s2", "executor": "ok", "payload": {"n": 3}},
                {"name": "f2", "executor": "boom", "payload": {"n": 4}},
            ]
        )
        queue.run_worker(concurrency=1, burst=True)
        queue.pause_group("frozen")
        queue.add_tasks(
            [
                {"name": "w1", "executor": "ok", "payload": {"n": 5}},
                {"name": "d1", "executor": "ok", "payload": {"n": 6}, "delay": 3600},
                {"name": "p1", "executor": "ok", "payload": {"n": 7}, "group": "frozen"},
            ]
        )
        before = h.snapshot(fresh_url)
        statuses = sorted(row[5] for row in before["jobs"])
        assert statuses == ["delayed", "failed", "failed", "paused", "waiting"]
        assert len(before["success"]) == 2
        failed = {row[0]: row for row in before["jobs"] if row[5] == "failed"}
        assert all(row[10] and row[11] and row[12] == "E_BOOM" for row in failed.values())

        queue.migrate(to=1)
        moved = dbs.query(
            fresh_url,
            "SELECT id, job_name, error_message, error_stack, error_code FROM queue_failures "
            "ORDER BY id",
        )
        assert moved == [(row[0], row[1], row[10], row[11], row[12]) for row in failed.values()]
        kept = dbs.query(fresh_url, "SELECT id, status FROM queue_jobs ORDER BY id")
        assert kept == [(row[0], row[5]) for row in before["jobs"] if row[5] != "failed"]
        assert "error_message" not in h.column_names(fresh_url, "queue_jobs")

        queue.migrate()
        assert h.snapshot(fresh_url) == before
        # and they are still ordinary failed tasks
        info = queue.get_task(next(iter(failed)))
        assert info is not None
        assert info.get_error_info() is not None
        assert info.get_error_info().code == "E_BOOM"  # type: ignore[union-attr]


def _insert_status(url: str, status: str) -> None:
    dbs.query(
        url,
        "INSERT INTO queue_jobs (job_name, executor, payload, status) VALUES (%s, %s, %s, %s)",
        (f"chk-{status}", "x", "{}", status),
    )


def test_status_check_constraint(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        _insert_status(fresh_url, "waiting")
        with pytest.raises(Exception, match="chk_queue_jobs_status") as caught:
            _insert_status(fresh_url, "failed")
        assert not isinstance(caught.value, AssertionError)

        queue.migrate()
        _insert_status(fresh_url, "failed")
        with pytest.raises(Exception, match="chk_queue_jobs_status"):
            _insert_status(fresh_url, "bogus")
    rows = dbs.query(fresh_url, "SELECT job_name, status FROM queue_jobs ORDER BY job_name")
    assert rows == [("chk-failed", "failed"), ("chk-waiting", "waiting")]


@only("mysql")
def test_mysql_sql_by_hand_in_a_non_utc_session_keeps_failed_at(fresh_url: str) -> None:
    """A DBA's session often runs in the server's local time zone, not UTC."""
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        ids = h.insert_legacy_data(fresh_url)
        h.apply_script(fresh_url, queue.migration_sql(), setup="SET time_zone = '+02:00'")
        assert queue.migration_status().current == h.LATEST
        for name, (*_, failed_at) in h.LEGACY_ERRORS.items():
            job = queue.get_task(ids[name])
            assert job is not None
            assert job.failed_at == h.utc(failed_at)


def test_legacy_ids_above_the_counter_are_never_reused(backend: str, fresh_url: str) -> None:
    """A legacy database may hold failure and success rows whose ids the id generator never
    handed out (written with explicit ids): after the upgrade new tasks must not collide."""
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
        dbs.query(
            fresh_url,
            "INSERT INTO queue_failures (id, job_name, executor, payload, created_at, failed_at) "
            "VALUES (%s, 'old', 'x', '{}', '2020-01-01 00:00:00', '2020-01-01 00:00:00')",
            [1000],
        )
        dbs.query(
            fresh_url,
            "INSERT INTO queue_success (id, job_name, executor, payload, created_at, "
            "completed_at) VALUES (%s, 'old', 'x', '{}', '2020-01-01 00:00:00', "
            "'2020-01-01 00:00:00')",
            [2000],
        )
        queue.migrate()
        new = queue.add_tasks([{"name": "new", "executor": "x"} for _ in range(3)])
        assert min(job.id for job in new) > 2000
        for job in new:
            assert queue.repository.move_to_success(job, 1)
        assert queue.retry_failed_task(1000) is True
