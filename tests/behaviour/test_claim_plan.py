"""The claim query keeps using its index and reads O(batch) rows, whatever the backlog
(EXPLAIN on the real query text from the package's .sql files)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.conftest import only
from tests.queries import queries_of, statements

BACKLOG = 5000
BATCH = 10


def _fill(queue: QueueService) -> None:
    queue.add_tasks(
        [{"name": "t", "executor": "e", "priority": i % 3} for i in range(BACKLOG)]
        + [{"name": "later", "executor": "e", "delay": 3600} for _ in range(500)]
    )


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


@only("postgres")
def test_postgres_claim_uses_the_claim_index(
    backend: str, queue: QueueService, db_url: str
) -> None:
    _fill(queue)
    conn = dbs.connect(db_url)
    try:
        conn.execute("ANALYZE queue_jobs")
        with conn.transaction(force_rollback=True):  # EXPLAIN ANALYZE runs the UPDATE
            row = conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries_of("postgres")["claim_jobs"],
                {"limit": BATCH, "worker_id": "w", "lease_token": "t", "lease_seconds": 30.0},
            ).fetchone()
    finally:
        conn.close()
    plan = row[0][0]["Plan"]
    scans = [
        n
        for n in _nodes(plan)
        if n.get("Relation Name") == "queue_jobs" and "Scan" in n["Node Type"]
    ]
    claim_scans = [n for n in scans if n.get("Index Name") == "idx_queue_jobs_claim"]
    assert claim_scans, json.dumps(plan, indent=1)
    assert all(n["Node Type"] != "Seq Scan" for n in scans)
    assert claim_scans[0]["Actual Rows"] <= BATCH
    assert not any(n["Node Type"] == "Sort" for n in _nodes(plan))


@only("mysql")
def test_mariadb_claim_uses_the_claim_index(backend: str, queue: QueueService, db_url: str) -> None:
    # claim_jobs: [0] reset, [1] read the head without locks, [2] lock from the head SKIP LOCKED
    claim = statements("mysql", "claim_jobs")
    head, pick = claim[1], claim[2]
    assert "SKIP LOCKED" in pick and "SKIP LOCKED" not in head
    _fill(queue)
    conn = dbs.connect(db_url)
    try:
        cursor = conn.cursor()
        cursor.execute("ANALYZE TABLE queue_jobs")
        cursor.fetchall()
        conn.begin()
        cursor.execute(claim[0])
        cursor.execute(head)
        cursor.execute("ANALYZE FORMAT=JSON " + pick, {"limit": BATCH})
        plan = json.loads(cursor.fetchone()[0])
        conn.rollback()
    finally:
        conn.close()
    [table] = [t for t in _mariadb_tables(plan) if t.get("table_name") == "queue_jobs"]
    assert table["key"] == "idx_queue_jobs_claim", plan
    assert table["r_rows"] <= BATCH
    assert "filesort" not in json.dumps(plan)


def _mariadb_tables(plan: Any) -> list[dict[str, Any]]:
    if isinstance(plan, list):
        return [t for item in plan for t in _mariadb_tables(item)]
    if not isinstance(plan, dict):
        return []
    found = [plan["table"]] if isinstance(plan.get("table"), dict) else []
    return found + [t for value in plan.values() for t in _mariadb_tables(value)]


@only("sqlite")
@pytest.mark.parametrize("block", ["claim_jobs", "claim_jobs_in_groups"])
def test_sqlite_claim_uses_the_claim_index(
    backend: str, queue: QueueService, db_url: str, block: str
) -> None:
    """The pick walks an index in claim order (no sort); the update and the read-back (claim_jobs'
    for both) find the picked rows by primary key."""
    _fill(queue)
    params = {"limit": 10, "worker_id": "w", "lease_token": "t", "lease_seconds": 30}
    params["picked"] = json.dumps([1, 2, 3])
    params["claimed_at"] = params["leased_until"] = "2026-01-01 00:00:00.000"
    pick, *rest = statements("sqlite", block)
    claim = [pick.replace("{groups}", "'a', 'b'"), *rest]  # as the driver runs them
    conn = dbs.connect(db_url)
    try:
        plans = [
            " | ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql in claim
        ]
    finally:
        conn.close()
    pick, times, *by_id = plans
    assert "queue_jobs" not in times, times  # the claim's time and lease end: no table read
    indexes = ["idx_queue_jobs_claim"] + ["idx_queue_jobs_group"] * (block != "claim_jobs")
    assert any(f"USING INDEX {index}" in pick for index in indexes), pick
    assert "TEMP B-TREE" not in pick, pick
    assert len(by_id) == 2, plans
    for plan in by_id:
        assert "SEARCH queue_jobs USING INTEGER PRIMARY KEY" in plan, plan
        assert "SCAN queue_jobs" not in plan, plan
