"""The raw limit: the same lifecycle (insert, claim, move to success) as plain SQL from one
process, no queue library, claiming 100 and moving 100 per round trip, every statement served
by an index. Runs in the project's virtualenv (it has the three drivers).
# requires: (the project's own drivers)
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

BATCH = 100
SCHEMA = {
    "postgres": [
        "DROP TABLE IF EXISTS raw_jobs, raw_success",
        "CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL, "
        "status TEXT NOT NULL DEFAULT 'waiting', locked_by TEXT)",
        "CREATE INDEX raw_claim ON raw_jobs (id) WHERE status = 'waiting'",
        "CREATE TABLE raw_success (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)",
    ],
    "mysql": [
        "DROP TABLE IF EXISTS raw_jobs, raw_success",
        "CREATE TABLE raw_jobs (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL, "
        "status VARCHAR(20) NOT NULL DEFAULT 'waiting', locked_by VARCHAR(64), "
        "KEY raw_claim (status, id))",
        "CREATE TABLE raw_success (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)",
    ],
    "sqlite": [
        "DROP TABLE IF EXISTS raw_jobs",
        "DROP TABLE IF EXISTS raw_success",
        "CREATE TABLE raw_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, "
        "status TEXT NOT NULL DEFAULT 'waiting', locked_by TEXT)",
        "CREATE INDEX raw_claim ON raw_jobs (status, id)",
        "CREATE TABLE raw_success (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)",
    ],
}


def connect(url: str) -> tuple[str, Any]:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return "sqlite", conn
    if url.startswith("postgres"):
        import psycopg

        return "postgres", psycopg.connect(url, autocommit=True)
    import pymysql

    host = url.split("@", 1)[1]
    address, database = host.split("/", 1)
    return "mysql", pymysql.connect(
        host=address.split(":")[0],
        port=int(address.split(":")[1]),
        user="root",
        database=database,
        autocommit=True,
    )


def run(conn: Any, dialect: str, sql: str, params: Any = ()) -> list[Any]:
    if dialect == "sqlite":
        return conn.execute(sql.replace("%s", "?"), params).fetchall()
    cursor = conn.cursor()
    cursor.execute(sql, params or None)
    return list(cursor.fetchall()) if cursor.description else []


def drain_round(conn: Any, dialect: str) -> int:
    """Claim up to BATCH waiting rows, then move them to raw_success: two transactions."""
    run(conn, dialect, "BEGIN IMMEDIATE" if dialect == "sqlite" else "BEGIN")
    if dialect == "mysql":
        ids = [
            r[0]
            for r in run(
                conn,
                dialect,
                "SELECT id FROM raw_jobs WHERE status = 'waiting' "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (BATCH,),
            )
        ]
        if ids:
            marks = ",".join(["%s"] * len(ids))
            run(
                conn,
                dialect,
                f"UPDATE raw_jobs SET status = 'executing', locked_by = 'w' WHERE id IN ({marks})",
                ids,
            )
    else:
        lock = "" if dialect == "sqlite" else " FOR UPDATE SKIP LOCKED"
        ids = [
            r[0]
            for r in run(
                conn,
                dialect,
                "UPDATE raw_jobs SET status = 'executing', "
                "locked_by = 'w' WHERE id IN (SELECT id FROM raw_jobs WHERE "
                f"status = 'waiting' ORDER BY id LIMIT %s{lock}) RETURNING id",
                (BATCH,),
            )
        ]
    run(conn, dialect, "COMMIT")
    if not ids:
        return 0
    marks = ",".join(["%s"] * len(ids))
    run(conn, dialect, "BEGIN IMMEDIATE" if dialect == "sqlite" else "BEGIN")
    run(
        conn,
        dialect,
        f"INSERT INTO raw_success (id, payload) SELECT id, payload FROM raw_jobs "
        f"WHERE id IN ({marks})",
        ids,
    )
    run(conn, dialect, f"DELETE FROM raw_jobs WHERE id IN ({marks})", ids)
    run(conn, dialect, "COMMIT")
    return len(ids)


def main() -> None:
    args = common.parse_args(common.parser(workloads=("W1", "W2", "W3")))
    dialect, conn = connect(args.url)
    for statement in SCHEMA[dialect]:
        run(conn, dialect, statement)
    out = common.result("raw SQL", "-", dialect, args)
    out["processes"] = 1
    insert = "INSERT INTO raw_jobs (payload) VALUES (%s)"
    meter = common.Meter(dialect)
    if args.workload == "W1":
        for i in range(args.n):
            run(conn, dialect, insert, (f'{{"i":{i}}}',))
    else:
        for start in range(0, args.n, 500):
            rows = [f'{{"i":{i}}}' for i in range(start, min(start + 500, args.n))]
            marks = ",".join(["(%s)"] * len(rows))
            run(conn, dialect, f"INSERT INTO raw_jobs (payload) VALUES {marks}", rows)
    if args.workload == "W3":  # the drain is timed from its first statement to its last task
        meter = common.Meter(dialect)
        while drain_round(conn, dialect):
            pass
    out.update(meter.enqueue())  # in-process: this process's CPU is the worker's
    table = "raw_success" if args.workload == "W3" else "raw_jobs"
    out["verified"] = run(conn, dialect, f"SELECT COUNT(*) FROM {table}")[0][0] == args.n
    common.emit(out)


if __name__ == "__main__":
    main()
