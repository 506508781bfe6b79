"""Helpers for the migration tests: schema introspection, hand-applied SQL, legacy data, and
migrators racing each other.

Everything here talks to the databases through the raw drivers (``tests.dbs.connect``), never
through stratix_queue, so the tests check what is really in the database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from stratix_queue import Job, JobStatus, QueueService
from stratix_queue.backends import migrations_dir
from stratix_queue.migrations.runner import load_migrations
from stratix_queue.urls import parse_url
from tests import dbs

Statement = tuple[str, Sequence[Any]]


def dialect(url: str) -> str:
    return parse_url(url).dialect


def run_many(url: str, statements: Sequence[Statement], setup: str | None = None) -> None:
    """Run statements (``%s`` placeholders) one by one on one autocommit connection, after an
    optional ``setup`` statement (e.g. a DBA's session settings)."""
    conn = dbs.connect(url)
    try:
        sqlite = dialect(url) == "sqlite"
        for sql, params in [(setup, ()), *statements] if setup else statements:
            if sqlite:
                conn.execute(sql.replace("%s", "?"), tuple(params))
            else:
                with conn.cursor() as cursor:
                    cursor.execute(sql, tuple(params) or None)
    finally:
        conn.close()


def split_script(script: str) -> list[str]:
    """What a DBA does with printed SQL: a statement ends with a ';' at the end of a line.

    Written independently of ``stratix_queue.sqlfile`` so a bug there cannot hide here.
    """
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") or (not line.strip() and not current):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    assert not "".join(current).strip(), f"unterminated SQL at the end: {current!r}"
    return statements


def apply_script(url: str, script: str, setup: str | None = None) -> int:
    """Apply printed migration SQL by hand; returns how many statements ran."""
    statements = split_script(script)
    run_many(url, [(sql, ()) for sql in statements], setup)
    return len(statements)


# -- schema introspection -----------------------------------------------------------------


def _norm(text: Any) -> Any:
    return re.sub(r"\s+", " ", text).strip() if isinstance(text, str) else text


def schema(url: str) -> dict[str, Any]:
    """Tables, columns (type, nullability, default), indexes and named CHECK constraints, plus
    the (version, name) rows of the version table (its timestamps left out)."""
    kind = dialect(url)
    result = {"sqlite": _sqlite_schema, "postgres": _pg_schema, "mysql": _mysql_schema}[kind](url)
    if "stratix_queue_migrations" in result["tables"]:
        result["versions"] = dbs.query(
            url, "SELECT version, name FROM stratix_queue_migrations ORDER BY version"
        )
    else:
        result["versions"] = None
    return result


def _sqlite_schema(url: str) -> dict[str, Any]:
    conn = dbs.connect(url)
    try:
        master = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        tables = sorted(name for kind, name, _, _ in master if kind == "table")
        columns = {}
        for table in tables:
            info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            # (name, type, notnull, default, pk); column order is left out on purpose
            columns[table] = sorted(
                (row[1], row[2].upper(), row[3], _norm(row[4]), row[5]) for row in info
            )
        indexes = sorted(
            (tbl, name, _norm(sql)) for kind, name, tbl, sql in master if kind == "index"
        )
        checks = sorted(
            (name, table, clause)
            for kind, _, table, sql in master
            if kind == "table"
            for name, clause in _sqlite_checks(sql)
        )
    finally:
        conn.close()
    return {"tables": tables, "columns": columns, "indexes": indexes, "checks": checks}


def _sqlite_checks(sql: str) -> list[tuple[str, str]]:
    """``CONSTRAINT name CHECK (...)`` clauses of a CREATE TABLE statement."""
    found = []
    for match in re.finditer(r"CONSTRAINT\s+(\w+)\s+CHECK\s*\(", sql, re.IGNORECASE):
        depth, start = 1, match.end()
        pos = start
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[pos], 0)
            pos += 1
        found.append((match.group(1), _norm(sql[start : pos - 1])))
    return found


def _pg_schema(url: str) -> dict[str, Any]:
    tables = [
        r[0]
        for r in dbs.query(
            url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        )
    ]
    columns: dict[str, list[tuple[Any, ...]]] = {t: [] for t in tables}
    for row in dbs.query(
        url,
        "SELECT table_name, column_name, data_type, character_maximum_length, "
        "datetime_precision, is_nullable, column_default, is_identity "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "ORDER BY table_name, column_name",
    ):
        columns[row[0]].append(row[1:])
    indexes = dbs.query(
        url,
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() ORDER BY 1, 2",
    )
    checks = dbs.query(
        url,
        "SELECT c.conname, r.relname, c.contype, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
        "WHERE r.relnamespace = current_schema()::regnamespace ORDER BY 1, 2",
    )
    return {"tables": tables, "columns": columns, "indexes": indexes, "checks": checks}


def _mysql_schema(url: str) -> dict[str, Any]:
    tables = [
        r[0]
        for r in dbs.query(
            url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
        )
    ]
    columns: dict[str, list[tuple[Any, ...]]] = {t: [] for t in tables}
    for row in dbs.query(
        url,
        "SELECT table_name, column_name, column_type, is_nullable, column_default, extra, "
        "collation_name FROM information_schema.columns WHERE table_schema = DATABASE() "
        "ORDER BY table_name, column_name",
    ):
        columns[row[0]].append(row[1:])
    indexes = dbs.query(
        url,
        "SELECT table_name, index_name, seq_in_index, column_name, non_unique, collation "
        "FROM information_schema.statistics WHERE table_schema = DATABASE() "
        "ORDER BY 1, 2, 3",
    )
    checks = dbs.query(
        url,
        "SELECT tc.constraint_name, tc.table_name, tc.constraint_type, cc.check_clause "
        "FROM information_schema.table_constraints tc "
        "LEFT JOIN information_schema.check_constraints cc "
        "  ON tc.constraint_type = 'CHECK' AND cc.constraint_schema = tc.constraint_schema "
        "  AND cc.constraint_name = tc.constraint_name "
        "WHERE tc.table_schema = DATABASE() ORDER BY 1, 2",
    )
    return {"tables": tables, "columns": columns, "indexes": indexes, "checks": checks}


def column_names(url: str, table: str) -> set[str]:
    cols = schema(url)["columns"].get(table)
    assert cols is not None, f"table {table} does not exist"
    return {c[0] for c in cols}


def version_rows(url: str) -> list[tuple[Any, ...]]:
    return [
        (int(v), n)
        for v, n in dbs.query(
            url, "SELECT version, name FROM stratix_queue_migrations ORDER BY version"
        )
    ]


# -- a pre-update (version 1) database with data ----------------------------------------------

OLD = "2024-01-01 00:00:00"
FUTURE = "2099-01-01 00:00:00"

# (name, executor, group, status while in queue_jobs, where it ends up in the legacy layout)
LEGACY_ROWS = [
    ("legacy-waiting", "mail", None, "waiting", "jobs"),
    ("legacy-delayed", "mail", None, "delayed", "jobs"),
    ("legacy-executing", "report", "reports", "executing", "jobs"),
    ("legacy-paused", "report", "frozen", "paused", "jobs"),
    ("legacy-failed-1", "mail", "reports", "executing", "failures"),
    ("legacy-success-1", "mail", None, "executing", "success"),
    ("legacy-dual", "report", "reports", "executing", "both"),
    ("legacy-failed-2", "report", None, "executing", "failures"),
    ("legacy-success-last", "mail", None, "executing", "success"),  # the highest id
]

# the error each failure row recorded: (message, stack, code, failed_at)
LEGACY_ERRORS = {
    "legacy-failed-1": (
        "smtp down",
        "Traceback 1\n  line 1",
        "ECONNREFUSED",
        "2024-02-01 10:00:00",
    ),
    "legacy-dual": ("report crashed", "Traceback dual", "ValueError", "2024-02-03 10:00:00"),
    "legacy-failed-2": ("it; broke", None, None, "2024-02-02 10:00:00"),
}


def insert_legacy_data(url: str) -> dict[str, int]:
    """Fill a version-1 (pre-update) database as the old code would have; returns name -> id.

    Ids come from the queue_jobs id generator, as they did in the old code; rows then move to
    queue_success / queue_failures. The 'both' row was copied to queue_failures but its delete
    from queue_jobs failed (the old bug).
    """
    statements: list[Statement] = [
        ("INSERT INTO queue_groups (group_name, status) VALUES (%s, %s)", ("frozen", "paused"))
    ]
    for name, executor, group, status, _ in LEGACY_ROWS:
        run_at = FUTURE if status == "delayed" else OLD
        locked = ("worker-1", FUTURE, OLD) if status == "executing" else (None, None, None)
        statements.append(
            (
                "INSERT INTO queue_jobs (job_name, executor, group_name, payload, status, "
                "priority, attempts, max_attempts, run_at, created_at, updated_at, locked_by, "
                "locked_until, started_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    name,
                    executor,
                    group,
                    f'{{"name": "{name}"}}',
                    status,
                    3,
                    1 if status == "executing" else 0,
                    2,
                    run_at,
                    OLD,
                    OLD,
                    *locked,
                ),
            )
        )
    run_many(url, statements)
    ids = {name: int(i) for i, name in dbs.query(url, "SELECT id, job_name FROM queue_jobs")}
    assert len(ids) == len(LEGACY_ROWS)

    statements = []
    for name, executor, group, _, where in LEGACY_ROWS:
        if where == "success":
            statements.append(
                (
                    "INSERT INTO queue_success (id, job_name, executor, group_name, payload, "
                    "priority, attempts, execution_time, created_at, started_at, completed_at, "
                    "metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        ids[name],
                        name,
                        executor,
                        group,
                        f'{{"name": "{name}"}}',
                        3,
                        1,
                        1234,
                        OLD,
                        OLD,
                        "2024-01-01 00:00:01",
                        '{"worker": "w1", "attempt": 1}',
                    ),
                )
            )
        if where in ("failures", "both"):
            message, stack, code, failed_at = LEGACY_ERRORS[name]
            statements.append(
                (
                    "INSERT INTO queue_failures (id, job_name, executor, group_name, payload, "
                    "priority, attempts, max_attempts, error_message, error_stack, error_code, "
                    "created_at, failed_at, metadata) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        ids[name],
                        name,
                        executor,
                        group,
                        f'{{"name": "{name}"}}',
                        3,
                        2,
                        2,
                        message,
                        stack,
                        code,
                        OLD,
                        failed_at,
                        '{"worker": "w1"}',
                    ),
                )
            )
        if where in ("success", "failures"):
            statements.append(("DELETE FROM queue_jobs WHERE id = %s", (ids[name],)))
    run_many(url, statements)
    return ids


# -- the seed's manual migration ("手动迁移"), as a DBA runs it by hand ------------------------

# Its three steps, verbatim from seed/000_ecc2a277aa16ede6.txt (trailing spaces left out).
SEED_ADD_COLUMNS = """-- 1. 添加错误字段
ALTER TABLE queue_jobs
ADD COLUMN error_message TEXT NULL,
ADD COLUMN error_stack TEXT NULL,
ADD COLUMN error_code VARCHAR(100) NULL,
ADD COLUMN failed_at TIMESTAMP NULL;
"""
SEED_DROP_CHECK = """-- 2. 更新状态约束
ALTER TABLE queue_jobs DROP CONSTRAINT chk_queue_jobs_status;
"""
SEED_ADD_CHECK = """ALTER TABLE queue_jobs
ADD CONSTRAINT chk_queue_jobs_status
CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed'));
"""
SEED_DROP_METADATA = """-- 3. 移除成功表metadata字段（如果存在）
ALTER TABLE queue_success DROP COLUMN metadata;
"""
SEED_MANUAL_MIGRATION = SEED_ADD_COLUMNS + SEED_DROP_CHECK + SEED_ADD_CHECK + SEED_DROP_METADATA

# SQLite runs none of it verbatim (one column per ADD COLUMN, no DROP CONSTRAINT): by hand there
# one adds the columns one by one, and may drop metadata (SQLite 3.35+).
SQLITE_ADD_COLUMNS = """ALTER TABLE queue_jobs ADD COLUMN error_message TEXT NULL;
ALTER TABLE queue_jobs ADD COLUMN error_stack TEXT NULL;
ALTER TABLE queue_jobs ADD COLUMN error_code VARCHAR(100) NULL;
ALTER TABLE queue_jobs ADD COLUMN failed_at TIMESTAMP NULL;
"""


# -- checking an upgraded database ---------------------------------------------------------


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def assert_upgraded(url: str, ids: dict[str, int]) -> None:
    """Every legacy row survived the upgrade to the latest layout, with its data."""
    tables = schema(url)["tables"]
    assert "queue_failures" not in tables
    assert "metadata" not in column_names(url, "queue_success")

    jobs = {
        int(i): (name, status, locked_by)
        for i, name, status, locked_by in dbs.query(
            url, "SELECT id, job_name, status, locked_by FROM queue_jobs"
        )
    }
    expected_status = {
        name: ("failed" if where in ("failures", "both") else status)
        for name, _, _, status, where in LEGACY_ROWS
        if where != "success"
    }
    assert {jobs[i][0]: jobs[i][1] for i in jobs} == expected_status
    assert {jobs[i][0]: i for i in jobs} == {n: ids[n] for n in expected_status}
    # the dual row is one row, and no longer locked by the long-gone worker
    assert jobs[ids["legacy-dual"]][2] is None

    success = dbs.query(url, "SELECT id, job_name, execution_time FROM queue_success")
    assert sorted((int(i), n, int(t)) for i, n, t in success) == sorted(
        (ids[n], n, 1234) for n, *_, where in LEGACY_ROWS if where == "success"
    )

    with QueueService(url) as queue:
        for name, (message, stack, code, failed_at) in LEGACY_ERRORS.items():
            job = queue.get_task(ids[name])
            assert isinstance(job, Job)
            assert job.status is JobStatus.FAILED
            assert job.is_failed()
            assert job.name == name
            assert job.payload == {"name": name}
            assert job.group == next(g for n, _, g, *_ in LEGACY_ROWS if n == name)
            info = job.get_error_info()
            assert info is not None
            assert (info.message, info.stack, info.code) == (message, stack, code)
            assert info.failed_at == utc(failed_at)
        # the seed's query, verbatim: newest failure first
        rows = dbs.query(
            url,
            "SELECT id, job_name, error_message, failed_at FROM queue_jobs "
            "WHERE status = 'failed' ORDER BY failed_at DESC;",
        )
        assert [r[1] for r in rows] == ["legacy-dual", "legacy-failed-2", "legacy-failed-1"]
        assert [j.id for j in queue.get_failed_tasks(100, 0)] == [r[0] for r in rows]
        assert queue.get_failed_tasks_stats().total == 3

        # no id reuse: a new task gets an id past every id ever handed out
        new = queue.add_tasks([{"name": f"new-{n}", "executor": "mail"} for n in range(3)])
        assert min(job.id for job in new) > max(ids.values())

        # the migrated failures are retryable; a non-failed task is not
        for name in LEGACY_ERRORS:
            assert queue.retry_failed_task(ids[name]) is True
            job = queue.get_task(ids[name])
            assert job is not None
            assert job.status is JobStatus.WAITING
        assert queue.retry_failed_task(ids["legacy-waiting"]) is False
        assert queue.get_failed_tasks(100, 0) == []


def snapshot(url: str) -> dict[str, Any]:
    """The rows of queue_jobs and queue_success that a down-then-up must keep as they were."""
    jobs = dbs.query(
        url,
        "SELECT id, job_name, executor, group_name, payload, status, priority, attempts, "
        "max_attempts, created_at, error_message, error_stack, error_code, failed_at "
        "FROM queue_jobs ORDER BY id",
    )
    success = dbs.query(
        url, "SELECT id, job_name, execution_time, created_at FROM queue_success ORDER BY id"
    )
    return {"jobs": jobs, "success": success}


# The shipped migrations, so the tests follow when a new one is added.
ALL_VERSIONS = [(m.version, m.name) for m in load_migrations(migrations_dir("sqlite"))]
LATEST = ALL_VERSIONS[-1][0]
ABOVE_1 = [version for version, _ in ALL_VERSIONS if version > 1]


def migrate_together(url: str, workers: int) -> list[list[int]]:
    """Run ``workers`` migrators on ``url`` at the same moment; the versions each applied.
    Any error in a migrator fails the calling test."""
    barrier = threading.Barrier(workers)
    results: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            with QueueService(url) as queue:
                barrier.wait(timeout=10)
                steps = queue.migrate()
            with lock:
                results.append([s.migration.version for s in steps])
        except BaseException as exc:  # reported below, in the test's thread
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def add_old_tasks(url: str, tasks: Sequence[tuple[str, str | None, str, int]]) -> None:
    """Tasks (name, group, status, priority) of executor 'e' inserted as older code wrote them:
    today's insert statements need the latest schema (the gate of migration 007)."""
    run_many(
        url,
        [
            (
                "INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, status,"
                " run_at) VALUES (%s, 'e', %s, '{}', %s, %s, %s)",
                (name, group, priority, status, "2099-01-01 00:00:00"),
            )
            if status == "delayed"
            else (
                "INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, status)"
                " VALUES (%s, 'e', %s, '{}', %s, %s)",
                (name, group, priority, status),
            )
            for name, group, status, priority in tasks
        ],
    )
