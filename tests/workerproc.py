"""Worker processes for the exactly-once tests (imported by spawned children)."""

from __future__ import annotations

import os
import threading
from typing import Any

from stratix_queue import Job, QueueService
from tests import dbs

_local = threading.local()


def _connection(url: str) -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = dbs.connect(url)
    return conn


def record_execution(url: str, job: Job) -> None:
    """Insert one row per execution; the primary key makes a second run of a task fail."""
    conn = _connection(url)
    sql = "INSERT INTO executions (task_id, pid) VALUES (%s, %s)"
    if url.startswith("sqlite"):
        conn.execute(sql.replace("%s", "?"), (job.id, os.getpid()))
    else:
        with conn.cursor() as cursor:
            cursor.execute(sql, (job.id, os.getpid()))


def run(url: str, concurrency: int, start: Any) -> None:
    queue = QueueService(url)
    queue.register_executor("count", lambda payload, job: record_execution(url, job))
    start.wait(60)
    # A small fixed prefetch: both processes keep claiming (an adaptive one could let the
    # first process hold hundreds of these instant tasks and finish before the other starts).
    stats = queue.run_worker(concurrency=concurrency, prefetch=8, burst=True, poll_interval=0.1)
    queue.close()
    if stats.failed or stats.lost:
        raise SystemExit(f"worker {os.getpid()} saw failures: {stats}")
