"""The claim keeps using its index and reads O(batch) rows, whatever the backlog, and never reads
a task it cannot take: another executor's backlog (even ahead of it in priority) and a limited
group's backlog stay out of its ranges (EXPLAIN on the statements the driver runs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.backends.lanes import lanes
from stratix_queue.backends.sql_driver import claim_values
from tests import dbs
from tests.conftest import only
from tests.queries import queries_of, statements

BACKLOG = 3000
BATCH = 10
EXECUTORS = [("e",), ("e", "f", "absent")]


def _fill(queue: QueueService) -> None:
    """Tasks of e and f; ahead of them in priority, a backlog of another executor and one of a
    limited group; and delayed ones."""
    queue.add_tasks(
        [{"name": "other", "executor": "other", "priority": 9} for _ in range(BACKLOG)]
        + [{"name": "lim", "executor": "e", "group": "lim", "priority": 9} for _ in range(BACKLOG)]
        + [{"name": "t", "executor": "e", "priority": i % 3} for i in range(BACKLOG)]
        + [{"name": "t", "executor": "f", "priority": i % 3} for i in range(BACKLOG)]
        + [{"name": "later", "executor": "e", "delay": 3600} for _ in range(500)]
    )
    queue.set_group_limits("lim", concurrency=2)


def _params(executors: tuple[str, ...]) -> ClaimParams:
    return ClaimParams("w", "t", BATCH, 30.0, None, executors)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _pg_plan(db_url: str, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    conn = dbs.connect(db_url)
    try:
        conn.execute("ANALYZE queue_jobs")
        with conn.transaction(force_rollback=True):  # EXPLAIN ANALYZE runs the UPDATE
            row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()
    finally:
        conn.close()
    plan: dict[str, Any] = row[0][0]["Plan"]
    return plan


def _assert_pg_lanes(plan: dict[str, Any], executors: tuple[str, ...]) -> None:
    scans = [
        n
        for n in _nodes(plan)
        if n.get("Relation Name") == "queue_jobs" and "Scan" in n["Node Type"]
    ]
    lanes_read = [n for n in scans if n.get("Index Name") == "idx_queue_jobs_claim"]
    assert lanes_read, json.dumps(plan, indent=1)
    assert all(n["Node Type"] != "Seq Scan" for n in scans)
    for lane in lanes_read:  # one lane per executor, each read from its head: <= BATCH rows
        assert lane["Actual Loops"] <= len(executors)
        assert lane["Actual Rows"] <= BATCH, json.dumps(plan, indent=1)
    for sort in (n for n in _nodes(plan) if n["Node Type"] == "Sort"):  # the merge of the lanes
        assert sort["Actual Rows"] <= BATCH * len(executors)


@only("postgres")
@pytest.mark.parametrize("executors", EXECUTORS, ids=["one", "three"])
def test_postgres_claim_reads_only_its_lanes(
    backend: str, queue: QueueService, db_url: str, executors: tuple[str, ...]
) -> None:
    _fill(queue)
    sql = queries_of("postgres")["claim_jobs"]
    plan = _pg_plan(db_url, sql, claim_values(_params(executors)))
    _assert_pg_lanes(plan, executors)
    claimed = queue.backend.claim(_params(executors))
    assert {job.executor for job in claimed} <= set(executors) and len(claimed) == BATCH
    assert all(job.group is None for job in claimed)


@only("postgres")
def test_postgres_gate_claim_reads_only_its_gate(
    backend: str, queue: QueueService, db_url: str
) -> None:
    _fill(queue)
    values = {**claim_values(_params(("e", "f"))), "gate": "lim", "limit": 2}
    _assert_pg_lanes(_pg_plan(db_url, queries_of("postgres")["claim_gate"], values), ("e", "f"))


@only("mysql")
@pytest.mark.parametrize("executors", EXECUTORS, ids=["one", "three"])
def test_mariadb_claim_reads_only_its_lanes(
    backend: str, queue: QueueService, db_url: str, executors: tuple[str, ...]
) -> None:
    from stratix_queue.backends.mariadb.driver import MariadbDriver

    driver = queue.backend
    assert isinstance(driver, MariadbDriver)
    claim = driver.claim_statements(_params(executors))
    heads, lock = claim[: len(executors)], claim[len(executors)]
    assert all("SKIP LOCKED" not in sql for sql, _ in heads)  # heads are read without locks
    assert "SKIP LOCKED" in lock[0]
    _fill(queue)
    conn = dbs.connect(db_url)
    try:
        cursor = conn.cursor()
        cursor.execute("ANALYZE TABLE queue_jobs")
        cursor.fetchall()
        conn.begin()
        for sql, values in heads:
            cursor.execute(sql, values)
        cursor.execute("ANALYZE FORMAT=JSON " + lock[0], lock[1])
        plan = json.loads(cursor.fetchone()[0])
        conn.rollback()
    finally:
        conn.close()
    tables = [t for t in _mariadb_tables(plan) if t.get("table_name") == "queue_jobs"]
    assert 1 <= len(tables) <= len(executors), plan  # an empty lane is no read at all
    for table in tables:
        assert table["key"] == "idx_queue_jobs_claim", plan
        assert table["r_rows"] <= BATCH, plan


def _mariadb_tables(plan: Any) -> list[dict[str, Any]]:
    if isinstance(plan, list):
        return [t for item in plan for t in _mariadb_tables(item)]
    if not isinstance(plan, dict):
        return []
    found = [plan["table"]] if isinstance(plan.get("table"), dict) else []
    return found + [t for value in plan.values() for t in _mariadb_tables(value)]


@only("sqlite")
@pytest.mark.parametrize("executors", EXECUTORS, ids=["one", "three"])
def test_sqlite_claim_searches_each_lane(
    backend: str, queue: QueueService, db_url: str, executors: tuple[str, ...]
) -> None:
    """Each lane is a SEARCH of the claim index by (status, gate, executor), in claim order; the
    update and the read-back find the picked rows by primary key."""
    _fill(queue)
    queries = queries_of("sqlite")
    params: dict[str, Any] = {**claim_values(_params(executors)), "picked": json.dumps([1, 2])}
    params["claimed_at"] = params["leased_until"] = "2026-01-01 00:00:00.000"
    fragment = lanes(queries["claim_lane"], executors)
    params.update(fragment.params)
    pick, *rest = statements("sqlite", "claim_jobs")
    conn = dbs.connect(db_url)
    try:
        plans = [
            " | ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql in [pick.replace("{lanes}", fragment.sql), *rest]
        ]
    finally:
        conn.close()
    pick_plan, times, *by_id = plans
    searches = pick_plan.count(
        "SEARCH queue_jobs USING INDEX idx_queue_jobs_claim (status=? AND gate=? AND executor=?)"
    )
    assert searches == len(executors), pick_plan
    assert "SCAN queue_jobs" not in pick_plan, pick_plan
    assert "queue_jobs" not in times, times
    assert len(by_id) == 2, plans
    for plan in by_id:
        assert "SEARCH queue_jobs USING INTEGER PRIMARY KEY" in plan, plan
