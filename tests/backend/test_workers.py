"""The worker registry, called directly: register_worker, heartbeat_worker, list_workers,
prune_workers and unregister_worker."""

from __future__ import annotations

from datetime import timedelta

from stratix_queue.backends.arguments import WorkerRecord
from stratix_queue.backends.driver import Driver
from stratix_queue.clock import to_utc
from tests.backend.conftest import OLD, RawSql, claim, count, new_job, now


def _record(worker_id: str, groups: str | None = None) -> WorkerRecord:
    return WorkerRecord(
        worker_id=worker_id, hostname="host-1", pid=4242, concurrency=8, group_names=groups
    )


def test_register_and_list_workers_with_their_tasks(driver: Driver) -> None:
    assert driver.list_workers() == []
    before = now()
    driver.register_worker(_record("w1", "g1,g2"))
    driver.register_worker(_record("w2"))
    driver.insert_jobs([new_job(f"n{i}") for i in range(4)])
    a, _ = claim(driver, "T", worker="w1", limit=2)
    claim(driver, "U", worker="someone-else", limit=1)
    driver.mark_started([(a.id, "T")])
    rows = driver.list_workers()
    assert [row["id"] for row in rows] == ["w1", "w2"]  # in the order they started
    w1, w2 = rows
    assert (w1["hostname"], int(w1["pid"]), int(w1["concurrency"]), w1["group_names"]) == (
        "host-1",
        4242,
        8,
        "g1,g2",
    )
    assert w2["group_names"] is None
    assert (int(w1["running"]), int(w1["prefetched"])) == (1, 1)
    assert (int(w2["running"]), int(w2["prefetched"])) == (0, 0)
    started = to_utc(w1["started_at"])
    heartbeat = to_utc(w1["last_heartbeat_at"])
    assert started is not None and heartbeat is not None
    assert before - timedelta(seconds=2) < started <= heartbeat < now() + timedelta(seconds=2)


def test_heartbeat_worker_touches_only_its_own_row(driver: Driver, raw: RawSql) -> None:
    driver.register_worker(_record("w1"))
    driver.register_worker(_record("w2"))
    raw.query("UPDATE queue_workers SET last_heartbeat_at = %s", (OLD,))
    assert driver.heartbeat_worker("w1") == 1
    assert driver.heartbeat_worker("nobody") == 0
    assert count(raw, "queue_workers", "last_heartbeat_at > %s", (OLD,)) == 1
    assert driver.prune_workers(60) == 1  # w2: silent since long ago
    assert [row["id"] for row in driver.list_workers()] == ["w1"]


def test_prune_workers_removes_only_the_stale(driver: Driver, raw: RawSql) -> None:
    driver.register_worker(_record("fresh"))
    driver.register_worker(_record("stale"))
    assert driver.prune_workers(60) == 0
    raw.query("UPDATE queue_workers SET last_heartbeat_at = %s WHERE id = %s", (OLD, "stale"))
    assert driver.prune_workers(60) == 1
    assert [row["id"] for row in driver.list_workers()] == ["fresh"]
    assert driver.prune_workers(60) == 0


def test_unregister_worker(driver: Driver) -> None:
    driver.register_worker(_record("w1"))
    driver.register_worker(_record("w2"))
    driver.unregister_worker("w1")
    assert [row["id"] for row in driver.list_workers()] == ["w2"]
    driver.unregister_worker("w1")  # again: nothing to do, no error
    driver.unregister_worker("w2")
    assert driver.list_workers() == []
    driver.register_worker(_record("w1"))  # the id can come back
    assert [row["id"] for row in driver.list_workers()] == ["w1"]
