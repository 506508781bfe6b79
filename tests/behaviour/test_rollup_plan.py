"""The throughput read (rollup_totals) reads queue_rollups by minute range on its primary key,
whose leading column is the minute: a window of an hour touches an hour of rows however many
days the table keeps. EXPLAIN on the real query text, on a database holding ten days of rollup
rows (and fresh statistics on the servers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.queries import queries_of

MINUTES = 10 * 24 * 60


@pytest.fixture
def filled(fresh_url: str, backend: str) -> str:
    with QueueService(fresh_url) as queue:
        queue.migrate()
    now = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    minutes = [(now - timedelta(minutes=i)).isoformat(sep=" ") for i in range(MINUTES)]
    for start in range(0, MINUTES, 1000):
        chunk = minutes[start : start + 1000]
        rows = ", ".join(["(%s, 'e', '', 3, 1, 5, 5)"] * len(chunk))
        dbs.query(
            fresh_url,
            "INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, "
            f"run_ms_total, run_ms_max) VALUES {rows}",
            chunk,
        )
    if backend == "postgres":
        dbs.query(fresh_url, "VACUUM ANALYZE queue_rollups")
    elif backend == "mysql":
        dbs.query(fresh_url, "ANALYZE TABLE queue_rollups")
    return fresh_url


def _plan(backend: str, conn: Any, sql: str) -> str:
    if backend == "sqlite":
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, {"since": 3600}).fetchall()
        return "\n".join(str(row[-1]) for row in rows)
    cursor = conn.cursor()
    if backend == "postgres":
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, {"since": 3600})
        return json.dumps(cursor.fetchone()[0])
    cursor.execute("EXPLAIN " + sql, {"since": 3600})
    columns = [d[0] for d in cursor.description]
    return json.dumps([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])


def test_the_throughput_read_is_a_primary_key_range(backend: str, filled: str) -> None:
    sql = queries_of(backend)["rollup_totals"]
    conn = dbs.connect(filled)
    try:
        plan = _plan(backend, conn, sql)
    finally:
        conn.close()
    if backend == "sqlite":
        assert "USING INDEX sqlite_autoindex_queue_rollups_1 (minute>?)" in plan, plan
    elif backend == "postgres":
        assert "queue_rollups_pkey" in plan and "Seq Scan" not in plan, plan
    else:
        [row] = json.loads(plan)
        assert (row["key"], row["type"]) == ("PRIMARY", "range"), plan
