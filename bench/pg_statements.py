"""Statements per task on PostgreSQL, from `pg_stat_statements`: one W3 drain (N tasks already
queued, one `stratix-queue worker --burst` process with the bench's settings), then every
statement the server ran for the drain's database, with its calls, rows and execution time.

`pg_stat_statements` must be preloaded (`shared_preload_libraries`, a server restart); this
script does not change the server's configuration. On this machine:

    psql -h 127.0.0.1 test -c "ALTER SYSTEM SET shared_preload_libraries = pg_stat_statements"
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart
    .venv/bin/python bench/pg_statements.py --n 10000
    psql -h 127.0.0.1 test -c "ALTER SYSTEM RESET shared_preload_libraries"
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg

from stratix_queue import QueueService

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "postgresql://root@127.0.0.1:5432/test"
CONCURRENCY = 16  # as bench/adapters/stratix_adapter.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--admin", default=ADMIN, help="a database to create the run's in")
    args = parser.parse_args()
    name = f"bench_pgss_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin, autocommit=True) as conn:
        preloaded = conn.execute("SHOW shared_preload_libraries").fetchone()
        if not preloaded or "pg_stat_statements" not in preloaded[0]:
            print(
                "pg_stat_statements is not preloaded: see this script's docstring", file=sys.stderr
            )
            return 2
        conn.execute(f"CREATE DATABASE {name}")
    url = args.admin.rsplit("/", 1)[0] + f"/{name}"
    try:
        rows = drain(url, args.n)
    finally:
        with psycopg.connect(args.admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(table(rows, args.n))
    return 0


def drain(url: str, n: int) -> list[tuple[Any, ...]]:
    """Queue n tasks, reset the statistics, drain with one worker; the statistics of the drain
    (this database's statements only) and a check that every task ran exactly once."""
    queue = QueueService(url)
    queue.migrate()
    for start in range(0, n, 500):
        queue.add_tasks(
            [
                {"name": "bench", "executor": "bench_noop", "payload": {"i": i}}
                for i in range(start, min(start + 500, n))
            ]
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    with tempfile.TemporaryDirectory() as sink:
        env = {**os.environ, "STRATIX_QUEUE_URL": url, "BENCH_SINK_DIR": sink}
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "stratix_queue", "worker", "--burst"]
        command += ["--app", "bench.adapters.stratix_app:queue", "--concurrency", str(CONCURRENCY)]
        subprocess.run(command, env=env, cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
        ran = [line.split()[0] for path in Path(sink).iterdir() for line in path.open()]
    if sorted(map(int, ran)) != list(range(n)) or any(queue.count_by_status().values()):
        raise SystemExit("the drain did not run every task exactly once")
    queue.close()
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT query, calls, rows, total_exec_time FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
            "AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC"
        ).fetchall()


def table(rows: list[tuple[Any, ...]], n: int) -> str:
    calls = sum(row[1] for row in rows)
    total_ms = sum(row[3] for row in rows)
    lines = [
        f"{n:,} tasks drained; {calls:,} statements ({calls / n:.3f} a task), "
        f"{total_ms:.1f} ms of execution in the server ({total_ms * 1000 / n:.1f} µs a task)",
        "",
        "| statement | calls | rows | ms | µs a task |",
        "|---|---|---|---|---|",
    ]
    for query, count, returned, ms in rows:
        text = " ".join(query.split())
        text = text if len(text) <= 90 else text[:87] + "..."
        lines.append(f"| `{text}` | {count:,} | {returned:,} | {ms:.1f} | {ms * 1000 / n:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
