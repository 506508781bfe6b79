"""The worker's batched completion finds each row by its primary key, whatever else is executing
(EXPLAIN on the real query text from the package's .sql files). Without that a batch of successes
scans every executing row per item, and the drain collapses as the worker holds more tasks."""

from __future__ import annotations

import json
from typing import Any

from stratix_queue import QueueService
from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.rollups import bucket_of
from tests import dbs
from tests.conftest import only
from tests.queries import queries_of, statements

EXECUTING = 3000


def _claim_many(queue: QueueService) -> list[list[Any]]:
    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(EXECUTING)])
    jobs = queue.backend.claim(
        ClaimParams(worker_id="w", lease_token="tok", limit=EXECUTING, lease_seconds=60.0)
    )
    assert len(jobs) == EXECUTING
    # as sql_driver.success_items writes them: id, lease token, ms, run-time bucket
    return [[job.id, job.lease_token, 1, bucket_of(1)] for job in jobs[:50]]


@only("sqlite")
def test_sqlite_batched_success_looks_rows_up_by_primary_key(
    backend: str, queue: QueueService, db_url: str
) -> None:
    items = json.dumps(_claim_many(queue))
    # the statements that read queue_jobs (not the rollup upsert, which is given its rows)
    batch = [sql for sql in statements("sqlite", "move_many_to_success") if "queue_jobs" in sql]
    assert len(batch) == 3
    conn = dbs.connect(db_url)
    try:
        plans = [
            [
                str(row[-1])
                for row in conn.execute(
                    "EXPLAIN QUERY PLAN " + statement, {"items": items, "moved": "[1, 2, 3]"}
                )
            ]
            for statement in batch
        ]
    finally:
        conn.close()
    for lines in plans:
        on_jobs = [line for line in lines if "queue_jobs" in line or " j " in f" {line} "]
        assert on_jobs, lines
        assert all("PRIMARY KEY" in line for line in on_jobs), lines


@only("postgres")
def test_postgres_batched_success_looks_rows_up_by_primary_key(
    backend: str, queue: QueueService, db_url: str
) -> None:
    items = json.dumps(_claim_many(queue))
    conn = dbs.connect(db_url)
    try:
        conn.execute("ANALYZE queue_jobs")
        with conn.transaction(force_rollback=True):  # EXPLAIN ANALYZE runs the statement
            row = conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries_of("postgres")["move_many_to_success"],
                {"items": items},
            ).fetchone()
    finally:
        conn.close()
    text = json.dumps(row[0][0]["Plan"])
    scans = _scans(row[0][0]["Plan"])
    on_jobs = [n for n in scans if n.get("Relation Name") == "queue_jobs"]
    assert on_jobs, text
    assert all(n["Node Type"] != "Seq Scan" for n in on_jobs), text
    assert all(n.get("Index Name") == "queue_jobs_pkey" for n in on_jobs), text
    assert sum(n.get("Actual Rows", 0) * n.get("Actual Loops", 1) for n in on_jobs) <= 50


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if "Scan" in plan.get("Node Type", "") else []
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


@only("mysql")
def test_mariadb_change_marker_reads_an_index_not_the_table(
    backend: str, queue: QueueService, db_url: str
) -> None:
    """Hungry workers read the change marker 100 times a second: the newest id comes from the
    primary key's end, the waiting count from at most 100 entries of an index, however many tasks
    wait or run."""
    jobs = queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(EXECUTING)])
    queue.backend.claim(ClaimParams(worker_id="w", lease_token="tok", limit=1000, lease_seconds=60))
    sql = queries_of("mysql")["change_marker"]
    assert dbs.query(db_url, sql) == [(jobs[-1].id, 100)]  # the newest id; 2,000 wait
    plan = dbs.query(db_url, "EXPLAIN " + sql)  # id, select_type, table, type, keys, key, ... Extra
    on_jobs = [row for row in plan if row[2] == "queue_jobs"]
    assert len(on_jobs) == 1, plan  # MAX(id) is read off the primary key: no table row at all
    [row] = on_jobs
    assert row[5] is not None and "Using index" in str(row[-1]), plan  # index-only, no row read
    assert any("optimized away" in str(line[-1]) for line in plan), plan
