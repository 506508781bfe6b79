"""Migration 005 keeps every query that reads queue_jobs by something other than its id on an
index (EXPLAIN on the real query text from the package's .sql files, as test_claim_plan.py does
for the claim): promotion of delayed tasks, rescue and release of executing ones, the failed
listing and counts, claims restricted to a group, pause/resume and the per-group counts.
SQLite runs without statistics (as users run it); PostgreSQL after VACUUM ANALYZE and MariaDB
after ANALYZE, each on a database of its own holding only the rows `_fill` adds, so the plans
depend on nothing an earlier test left behind."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.queries import statements

# block -> the index each backend must use for it, or one whose name starts so (None: any
# index, no full scan)
EXPECTED: dict[str, dict[str, str | None]] = {
    "promote_due": {
        "sqlite": "idx_queue_jobs_delayed",
        "postgres": "idx_queue_jobs_delayed",
        "mysql": "idx_queue_jobs_status_run_at",
    },
    "rescue_expired": {
        "sqlite": "idx_queue_jobs_executing",
        "postgres": "idx_queue_jobs_executing",
        "mysql": None,  # the few executing rows, by any status-led index
    },
    "release_claim": {
        "sqlite": "idx_queue_jobs_executing",
        "postgres": "idx_queue_jobs_executing",
        "mysql": None,
    },
    "list_failed": dict.fromkeys(("sqlite", "postgres", "mysql"), "idx_queue_jobs_failed"),
    "failed_ids": {
        "sqlite": "idx_queue_jobs_failed",
        "postgres": "idx_queue_jobs_failed",
        "mysql": None,
    },
    "failed_by_executor": {
        "sqlite": "idx_queue_jobs_failed",
        "postgres": "idx_queue_jobs_failed",
        "mysql": None,
    },
    "failed_by_code": {
        "sqlite": "idx_queue_jobs_failed",
        "postgres": "idx_queue_jobs_failed",
        "mysql": None,
    },
    # SQLite may read the executors' lanes of the claim index instead (the group by row)
    "claim_jobs_in_groups": {
        "sqlite": "idx_queue_jobs_",
        "postgres": "idx_queue_jobs_group",
        "mysql": "idx_queue_jobs_group",
    },
    "pause_group": {
        "sqlite": "idx_queue_jobs_group",
        "postgres": "idx_queue_jobs_group",
        "mysql": None,
    },
    "resume_group": {
        "sqlite": "idx_queue_jobs_group",
        "postgres": "idx_queue_jobs_group",
        "mysql": None,
    },
    "group_counts": dict.fromkeys(("sqlite", "postgres", "mysql"), "idx_queue_jobs_group"),
}

VALUES: dict[str, Any] = {
    "limit": 10,
    "offset": 0,
    "worker_id": "w",
    "lease_token": "t",
    "lease_seconds": 30.0,
    "message": "m",
    "unstarted_message": "u",
    "lost_fingerprint": "0123456789abcdef",
    "status": None,
    "executor": None,
    "code": None,
    "group": None,
    "groups": ["g1"],
    "executors": ["e"],
    "ids": [1, 2],
    # SQLite's claim: columns of an earlier statement's one row
    "picked": "[1, 2]",
    "claimed_at": "2026-01-01 00:00:00.000",
    "leased_until": "2026-01-01 00:00:30.000",
}
GROUP_OF = {"pause_group": "g1", "resume_group": "gp", "failed_ids": None}


def _fill(queue: QueueService, url: str) -> None:
    """A backlog without a group, delayed tasks, tasks in groups (one paused), failures and
    executing tasks whose lease ran out."""
    queue.pause_group("gp")
    jobs = queue.add_tasks(
        [{"name": "t", "executor": "e", "priority": i % 3} for i in range(5000)]
        + [{"name": "later", "executor": "e", "delay": 3600} for _ in range(500)]
        + [{"name": "g", "executor": "e", "group": f"g{i % 4}"} for i in range(200)]
        + [{"name": "p", "executor": "e", "group": "gp"} for _ in range(100)]
    )
    failed = [job.id for job in jobs[:100]]
    executing = [job.id for job in jobs[100:150]]
    marks = ", ".join(["%s"] * 50)
    dbs.query(
        url,
        "UPDATE queue_jobs SET status = 'failed', failed_at = created_at, error_code = 'E' "
        f"WHERE id IN ({marks}, {marks})",
        failed,
    )
    dbs.query(
        url,
        "UPDATE queue_jobs SET status = 'executing', locked_by = 'w', lease_token = 't', "
        f"locked_until = '2020-01-01 00:00:00' WHERE id IN ({marks})",
        executing,
    )


def _statements(dialect: str, name: str) -> list[tuple[str, dict[str, Any]]]:
    """The block's statements with its lists expanded (as the driver does) and values bound."""
    mark = (lambda key: f":{key}") if dialect == "sqlite" else (lambda key: f"%({key})s")
    values = {**VALUES, "group": GROUP_OF.get(name, VALUES["group"])}
    found = []
    for statement in statements(dialect, name):
        params = {  # a list is an array parameter where the statement names it so
            key: value
            for key, value in values.items()
            if not isinstance(value, list) or f"%({key})s" in statement
        }
        for key in re.findall(r"\{(\w+)\}", statement):
            items = values[key]
            marks = ", ".join(mark(f"{key}_{i}") for i in range(len(items)))
            statement = statement.replace(f"{{{key}}}", marks)
            params.update({f"{key}_{i}": item for i, item in enumerate(items)})
        found.append((statement, params))
    return found


def _sqlite_plan(conn: Any, sql: str, params: dict[str, Any]) -> tuple[list[str], bool]:
    """The indexes used on queue_jobs, and whether it is scanned whole without one."""
    lines = [str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    on_jobs = [line for line in lines if re.search(r"\b(queue_jobs|j)\b", line)]
    used = [m.group(1) for line in on_jobs for m in [re.search(r"INDEX (\w+)", line)] if m]
    full = any(re.match(r"SCAN (queue_jobs|j)$", line.strip()) for line in on_jobs)
    return used, full


def _pg_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_pg_nodes(child))
    return found


def _pg_plan(conn: Any, sql: str, params: dict[str, Any]) -> tuple[list[str], bool]:
    with conn.transaction(force_rollback=True):
        plan = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0][0]["Plan"]
    nodes = _pg_nodes(plan)
    used = [n["Index Name"] for n in nodes if n.get("Index Name", "").startswith("idx_queue_jobs")]
    on_jobs = [n for n in nodes if n.get("Relation Name") == "queue_jobs"]
    return used, any(n["Node Type"] == "Seq Scan" for n in on_jobs)


def _mysql_plan(conn: Any, sql: str, params: dict[str, Any]) -> tuple[list[str], bool]:
    cursor = conn.cursor()
    cursor.execute("EXPLAIN " + sql, params)
    rows = [row for row in cursor.fetchall() if row[2] in ("queue_jobs", "j")]
    conn.rollback()
    return [row[5] for row in rows if row[5]], any(row[3] == "ALL" for row in rows)


@pytest.fixture
def filled(fresh_url: str, backend: str) -> str:
    """A new database with `_fill`'s rows and fresh statistics. Not the shared one: it keeps the
    dead rows of every earlier test (autovacuum may be off), which tipped PostgreSQL's plan of
    group_counts to a full scan once a few tests had run. VACUUM sets the visibility map as
    autovacuum would in production, so index-only scans are costed the same on every run."""
    with QueueService(fresh_url) as queue:
        queue.migrate()
        _fill(queue, fresh_url)
    if backend == "postgres":
        dbs.query(fresh_url, "VACUUM ANALYZE")
    elif backend == "mysql":
        dbs.query(fresh_url, "ANALYZE TABLE queue_jobs, queue_groups")
    return fresh_url


def test_reindexed_queries_use_their_index(backend: str, filled: str) -> None:
    conn = dbs.connect(filled)
    explain = {"sqlite": _sqlite_plan, "postgres": _pg_plan, "mysql": _mysql_plan}[backend]
    problems = []
    try:
        for name, wanted in EXPECTED.items():
            used: list[str] = []
            for sql, params in _statements(backend, name):
                if not re.search(r"\bqueue_jobs\b", sql):
                    continue
                indexes, full = explain(conn, sql, params)
                used += indexes
                if full:
                    problems.append(f"{name}: full scan of queue_jobs in {sql[:60]!r}")
            expected = wanted[backend]
            # a failed-task query may use any of 006's failed indexes (by executor, code...)
            if expected is not None and not any(index.startswith(expected) for index in used):
                problems.append(f"{name}: {expected} not used (used {used})")
    finally:
        conn.close()
    assert not problems, json.dumps(problems, indent=1)
