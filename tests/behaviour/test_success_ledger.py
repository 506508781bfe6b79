"""The success ledger through QueueService on every backend: a burst worker's successes with
known run times are counted per executor and group with their longest run time, percentiles come
from the buckets, find_task finds a task in each of its three places, retention (by hand and
in the worker's maintenance) deletes only what is old."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.maintenance import Maintenance
from stratix_queue.retention import Retention
from stratix_queue.rollups import BUCKET_BOUNDS_MS, bucket_of
from stratix_queue.worker_options import LeaseSettings
from tests import dbs

OLD = "2000-01-01 00:00:00"
SLOW_MS = 120


def _burst(queue: QueueService) -> None:
    @queue.executor("quick")
    def quick(payload: Any) -> None:
        return None

    @queue.executor("slow")
    def slow(payload: Any) -> None:
        time.sleep(SLOW_MS / 1000)

    @queue.executor("boom")
    def boom(payload: Any) -> None:
        raise ValueError("boom")

    queue.add_tasks(
        [{"name": "q", "executor": "quick", "group": "g1"} for _ in range(40)]
        + [{"name": "q", "executor": "quick"} for _ in range(10)]
        + [{"name": "s", "executor": "slow", "group": "g2"} for _ in range(4)]
        + [{"name": "b", "executor": "boom"}]
    )
    stats = queue.run_worker(concurrency=4, burst=True)
    assert (stats.succeeded, stats.failed) == (54, 1)


def test_throughput_counts_what_the_worker_did(queue: QueueService, db_url: str) -> None:
    _burst(queue)
    by_executor = {row.key: row for row in queue.get_throughput("1h", by="executor")}
    assert set(by_executor) == {"quick", "slow", "boom"}
    quick, slow, boom = by_executor["quick"], by_executor["slow"], by_executor["boom"]
    assert (boom.succeeded, boom.failed, boom.failure_rate, boom.max_ms) == (0, 1, 1.0, None)
    assert (quick.failed, quick.failure_rate) == (0, 0.0)
    assert quick.succeeded == 50 and slow.succeeded == 4
    assert slow.max_ms is not None and SLOW_MS <= slow.max_ms < 5 * SLOW_MS
    assert slow.avg_ms is not None and slow.avg_ms >= SLOW_MS
    assert quick.max_ms is not None and quick.max_ms < SLOW_MS
    # every slow run time is in (100, 200] ms or a later bucket: so are the estimates
    lower = BUCKET_BOUNDS_MS[bucket_of(SLOW_MS) - 1]
    for value in (slow.p50_ms, slow.p95_ms, slow.p99_ms):
        assert value is not None and lower <= value <= slow.max_ms
    assert "estimated" in slow.percentiles
    by_group = {row.key: row.succeeded for row in queue.get_throughput("1h", by="group")}
    assert by_group == {"g1": 40, "g2": 4, None: 10}
    [everything] = queue.get_throughput("1h")
    assert everything.key is None and everything.succeeded == 54 and everything.failed == 1
    assert everything.max_ms == slow.max_ms
    # the rollups alone answer: with queue_success emptied the counts stay
    dbs.query(db_url, "DELETE FROM queue_success")
    assert queue.get_throughput("1h")[0].succeeded == 54
    # minutes before the window are left out
    dbs.query(db_url, "UPDATE queue_rollups SET minute = %s", (OLD,))
    assert queue.get_throughput("1h") == []


def test_find_task_in_each_place(queue: QueueService, db_url: str) -> None:
    queue.register_executor("ok", lambda payload: None)
    done = queue.add_task(name="done", executor="ok", payload={"n": 1}, group="g")
    queue.run_worker(concurrency=1, burst=True)
    waiting = queue.add_task(name="later", executor="ok", delay=3600)
    assert queue.get_task(done.id) is None  # the contract: a success is not a queue_jobs task
    found = queue.find_task(done.id)
    assert found is not None and found.where == "queue_success"
    assert (found.status, found.name, found.group, found.payload) == (
        "succeeded",
        "done",
        "g",
        {"n": 1},
    )
    assert found.completed_at is not None and found.execution_time_ms is not None
    assert found.job is None
    in_queue = queue.find_task(waiting.id)
    assert in_queue is not None and in_queue.where == "queue_jobs"
    assert in_queue.job is not None and in_queue.status == "delayed"
    dbs.query(
        db_url,
        "INSERT INTO queue_removed (id, job_name, executor, payload, priority, attempts, "
        "max_attempts, status, outcome, error_message, created_at, removed_at, removed_by, "
        "reason) VALUES (%s, 'x', 'ok', '{}', 0, 1, 1, 'failed', 'discarded', 'boom', %s, %s, "
        "'alice', 'duplicate')",
        (waiting.id + 100, OLD, OLD),
    )
    removed = queue.find_task(waiting.id + 100)
    assert removed is not None and removed.where == "removed"
    assert (removed.status, removed.removed_by, removed.reason) == (
        "discarded",
        "alice",
        "duplicate",
    )
    assert removed.error_message == "boom" and removed.status_before == "failed"
    assert queue.find_task(waiting.id + 101) is None


def _old_rows(queue: QueueService, db_url: str) -> list[int]:
    queue.register_executor("ok", lambda payload: None)
    jobs = queue.add_tasks([{"name": f"n{i}", "executor": "ok"} for i in range(3)])
    queue.run_worker(concurrency=1, burst=True)
    ids = [job.id for job in jobs]
    dbs.query(db_url, "UPDATE queue_success SET completed_at = %s WHERE id <> %s", (OLD, ids[2]))
    dbs.query(
        db_url,
        "INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded) "
        "VALUES (%s, 'ok', '', 0, 7)",
        (OLD,),
    )
    return ids


def test_prune_by_hand_deletes_only_old_rows(queue: QueueService, db_url: str) -> None:
    ids = _old_rows(queue, db_url)
    dry = queue.prune(dry_run=True)
    assert (dry.counts["successes"], dry.counts["rollups"]) == (2, 1)
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 3
    report = queue.prune(keep_rollups=None)  # rollups kept
    assert report.counts["successes"] == 2 and "rollups" not in report.counts
    assert [r[0] for r in dbs.query(db_url, "SELECT id FROM queue_success")] == [ids[2]]
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_rollups WHERE minute < '2001-01-01'") == 1
    assert queue.prune().counts["rollups"] == 1
    assert queue.get_throughput("1h")[0].succeeded == 3  # this minute's rollups stay


def test_the_worker_maintenance_prunes_in_batches(
    queue: QueueService,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = _old_rows(queue, db_url)
    monkeypatch.setattr("stratix_queue.retention.WORKER_BATCHES", 1)
    monkeypatch.setattr("stratix_queue.retention.BATCH", 1)
    maintenance = Maintenance(
        queue.backend,
        "w1",
        1,
        None,
        LeaseSettings(30.0, 10.0, 10.0),
        held=list,
        mark_starts=lambda: False,
        retention=Retention(successes=86400.0, rollups=None, removed=86400.0),
    )
    with caplog.at_level(logging.INFO, logger="stratix_queue"):
        assert maintenance.prune() is True  # one batch of one: more is left
        assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 2
        assert maintenance.prune() is True  # the second old row: a full batch again
        assert maintenance.prune() is False
    assert [r[0] for r in dbs.query(db_url, "SELECT id FROM queue_success")] == [ids[2]]
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_rollups WHERE minute < '2001-01-01'") == 1
    assert "pruned past their retention: 1 successes; more left" in caplog.text
