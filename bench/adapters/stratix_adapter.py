"""stratix-queue under the benchmark contract (bench/ADAPTERS.md), on SQLite, PostgreSQL or
MySQL/MariaDB. Workers are real `stratix-queue worker` processes with the recommended settings
(`--concurrency 16`: a claim takes as many tasks as there are free slots), running the
application bench/adapters/stratix_app.py.
# requires: (the project itself, from the repository)

W5 (`--backlog B`): B tasks queued (the first SEED through add_tasks, the rest copies of
add_tasks' rows, see fill_backlog), one worker process drains n of them and is then stopped
with SIGTERM (graceful: running tasks finish, claimed ones are given back).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from raw_sql import connect

from stratix_queue import QueueService, __version__

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = int(os.environ.get("BENCH_STRATIX_CONCURRENCY", "16"))
# Flow control (bench/README.md): every task in this group, and the group's concurrency limit.
GROUP = os.environ.get("BENCH_STRATIX_GROUP") or None
GROUP_LIMIT = int(os.environ.get("BENCH_STRATIX_GROUP_LIMIT", "0"))
GRACE = 30  # the worker's default --grace; the adapter waits a little longer
SEED = 100  # W5: backlog rows written through add_tasks, the model for the copies
COPY_CHUNK = 100_000  # W5: backlog rows per INSERT ... SELECT


def tasks(start: int, stop: int) -> list[dict[str, Any]]:
    return [
        {"name": "bench", "executor": "bench_noop", "group": GROUP, "payload": {"i": i}}
        for i in range(start, stop)
    ]


class Stratix(common.Adapter):
    library = "stratix-queue"
    workloads = ("W1", "W2", "W3", "W4", "W5")
    idle = 1.5
    drains_and_exits = True  # --burst

    def open(self) -> str:
        self.queue = QueueService(self.args.url)
        self.queue.migrate(0)
        self.queue.migrate()
        if GROUP and GROUP_LIMIT:
            self.queue.set_group_limits(GROUP, concurrency=GROUP_LIMIT)
        self.backend = self.queue.backend.dialect
        env = {**os.environ, "STRATIX_QUEUE_URL": self.args.url, "PYTHONPATH": str(ROOT)}
        self.popen = {"cwd": ROOT, "env": env}
        return __version__

    def close(self) -> None:
        self.queue.close()

    def worker(self, mode: str, processes: int) -> tuple[list[str], int]:
        """One `stratix-queue worker` supervisor with `processes` worker processes."""
        cmd = [sys.executable, "-m", "stratix_queue", "worker"]
        cmd += ["--app", "bench.adapters.stratix_app:queue", "--concurrency", str(CONCURRENCY)]
        cmd += ["--processes", str(processes)] + ["--burst"] * (mode == "drain")
        return cmd, 1

    def enqueue(self, i: int, sent: float | None = None) -> None:
        payload = {"i": i} if sent is None else {"i": i, "t": sent}
        self.queue.add_task(name="bench", executor="bench_noop", group=GROUP, payload=payload)

    def enqueue_bulk(self, n: int) -> None:
        for start in range(0, n, common.BULK):
            self.queue.add_tasks(tasks(start, min(start + common.BULK, n)))

    def fill(self, n: int) -> None:
        for start in range(0, n, 5000):
            self.queue.add_tasks(tasks(start, min(start + 5000, n)))

    def enqueued(self, workers: common.Workers, n: int) -> bool:
        return self.queue.count_by_status()["waiting"] == n

    def measure(self, workers: common.Workers, out: dict[str, Any]) -> None:
        if self.args.workload == "W5":
            out.update(self.backlog_drain(workers))
        else:
            super().measure(workers, out)

    def backlog_drain(self, workers: common.Workers) -> dict[str, Any]:
        """W5: n tasks drained by one worker process from a backlog of args.backlog, then
        SIGTERM. Verified: no task ran twice, the tasks recorded as succeeded are exactly
        those that ran, and the rest are still waiting (none lost, none left executing)."""
        args = self.args
        total = max(args.backlog, args.n)
        copied = fill_backlog(self.queue, args.url, total)
        workers.start(self.worker("continuous", args.processes)[0], **self.popen)
        workers.wait_for(args.n)
        clean = workers.stop(signal.SIGTERM, grace=GRACE + 5)
        measured = workers.measured()
        runs = workers.sink.runs
        conn = connect(args.url)[1]
        cursor = conn.cursor()
        cursor.execute("SELECT payload FROM queue_success")
        succeeded = sorted(json.loads(row[0])["i"] for row in cursor.fetchall())
        conn.close()
        counts = self.queue.count_by_status()
        done = sum(runs.values())
        verified = (
            clean
            and all(count == 1 for count in runs.values())
            and succeeded == sorted(runs)
            and counts.get("waiting", 0) == total - done
            and sum(counts.values()) == total - done
            and max(runs) < total
        )
        return {
            **measured,
            "n": done,
            "backlog": total,
            "backlog_copied_rows": copied,
            "backlog_analyzed": self.backend == "postgres",
            "verified": verified,
        }


# --- W5 --------------------------------------------------------------------------------------


def fill_backlog(queue: QueueService, url: str, total: int) -> int:
    """Queue tasks 0..total-1: the first SEED through add_tasks, the rest as copies of task
    0's row with their own index in the payload, by INSERT ... SELECT over a generated series
    (add_tasks writes some thousands of rows a second here: a million would take minutes).
    Before copying, the copy's SELECT is run for the indices of the SEED rows and must give
    those rows exactly (every column but the id). Returns how many rows were copied."""
    seed = queue.add_tasks(tasks(0, min(SEED, total)))
    if total <= SEED:
        return 0
    dialect, conn = connect(url)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT * FROM queue_jobs WHERE 1 = 0")
        columns = [d[0] for d in cursor.description if d[0] != "id"]
        model = seed[0].id
        cursor.execute(f"SELECT payload FROM queue_jobs WHERE id = {model}")
        prefix, _, suffix = cursor.fetchone()[0].partition("0")  # task 0's payload: {"i": 0}

        def copy(lo: int, hi: int, insert: str = "") -> str:
            """The copies of the model row for tasks lo..hi, or `insert` them."""
            value = {
                "postgres": "%s || g.i::text || %s",
                "sqlite": "? || g.i || ?",
                "mysql": "CONCAT(%s, g.i, %s)",
            }[dialect]
            listed = ", ".join(value if c == "payload" else f"t.{c}" for c in columns)
            series = {
                "postgres": f"generate_series({lo}, {hi}) AS g(i)",
                "sqlite": "g",
                "mysql": f"(SELECT seq AS i FROM seq_{lo}_to_{hi}) AS g",
            }[dialect]
            cte = (
                f"WITH RECURSIVE g(i) AS (SELECT {lo} UNION ALL "
                f"SELECT i + 1 FROM g WHERE i < {hi}) "
                if dialect == "sqlite"
                else ""
            )
            return (
                f"{cte}{insert}SELECT {listed} FROM queue_jobs AS t CROSS JOIN {series} "
                f"WHERE t.id = {model} ORDER BY g.i"
            )

        names = ", ".join(columns)
        cursor.execute(copy(1, len(seed) - 1), (prefix, suffix))
        copies = [tuple(row) for row in cursor.fetchall()]
        ids = ", ".join(str(job.id) for job in seed[1:])
        cursor.execute(f"SELECT {names} FROM queue_jobs WHERE id IN ({ids}) ORDER BY id")
        if copies != [tuple(row) for row in cursor.fetchall()]:
            raise RuntimeError("the backlog copy would not write what add_tasks writes")
        insert = f"INSERT INTO queue_jobs ({names}) "
        for lo in range(len(seed), total, COPY_CHUNK):
            hi = min(lo + COPY_CHUNK, total) - 1
            if dialect != "postgres":  # psycopg runs in autocommit: a statement is a transaction
                cursor.execute("BEGIN")
            cursor.execute(copy(lo, hi, insert), (prefix, suffix))
            if dialect != "postgres":
                cursor.execute("COMMIT")
        if dialect == "postgres":
            # What autovacuum's auto-analyze does after a bulk insert (it is off on this server):
            # without statistics the claim's plan over a 1,000,000-row backlog is 5x slower.
            cursor.execute("ANALYZE queue_jobs")
    finally:
        conn.close()
    return total - len(seed)


if __name__ == "__main__":
    sys.exit(Stratix().main())
