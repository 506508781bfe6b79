# requires: procrastinate==3.10.0 psycopg[binary]==3.3.9 psycopg-pool==3.3.3
"""Benchmark adapter for procrastinate (PostgreSQL), per bench/ADAPTERS.md.

Virtualenv: ``pip install procrastinate==3.10.0 psycopg[binary]==3.3.9 psycopg-pool==3.3.3``

How procrastinate is driven (its documented, recommended way):
- ``App(connector=PsycopgConnector(conninfo=url))``, opened with ``app.open_async()``;
- schema: ``app.schema_manager.apply_schema_async()`` on a fresh database (the tables are
  truncated instead when the schema is already there);
- enqueue: ``task.defer_async(i=i)`` one call per task (W1), ``task.batch_defer_async(...)``
  with 500 jobs per call (W2);
- workers: ``app.run_worker(...)`` in each worker process (what ``procrastinate worker`` runs),
  ``wait=False`` for W3 (stop once the queue is empty), ``wait=True`` + SIGTERM for W4, with
  ``concurrency=1`` (the default; ``--concurrency`` to change) and the other defaults
  (LISTEN/NOTIFY on, finished jobs kept);
- the task is an ``async def`` that records its index in the process's sink.

    python procrastinate_adapter.py W1|W2|W3|W4 --n N [--processes P] --url postgresql://...
"""

from __future__ import annotations

import asyncio
import logging
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TASK = "bench_noop"
TABLES = (
    "procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, procrastinate_workers"
)
SINK = common.Sink()  # the worker's: buffered for W3 (set in worker_main)


def build_app(url: str) -> tuple[Any, Any]:
    """The App and its one task (which only runs in worker processes, writing to SINK)."""
    from procrastinate import App, PsycopgConnector

    # Its warning about an App in __main__ concerns task names; this task is named explicitly.
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    app = App(connector=PsycopgConnector(conninfo=url))

    @app.task(name=TASK)
    async def noop(i: int, t: float | None = None) -> None:
        SINK.write(i, t)

    return app, noop


class Procrastinate(common.Adapter):
    library = "procrastinate"
    backend = "postgres"
    script = __file__
    per_task_timeout = 0.05  # it drains at ~100-400 tasks/s here
    idle = 0.5
    drains_and_exits = True  # run_worker(wait=False)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--concurrency", type=int, default=1, help="worker concurrency")

    def worker_options(self) -> list[str]:
        return ["--concurrency", str(self.args.concurrency)]

    def settings(self) -> dict[str, Any]:
        settings = {"connector": "PsycopgConnector", "concurrency": self.args.concurrency}
        return settings | {"enqueue_batch": common.BULK}

    def worker_main(self) -> None:
        """One worker process: ``app.run_worker`` until the queue is empty (drain) or SIGTERM."""
        continuous = self.args.mode == "continuous"
        SINK.buffered = not continuous  # W4's parent reads it while the worker runs
        app, _ = build_app(self.args.url)
        app.run_worker(wait=continuous, concurrency=self.args.concurrency)
        SINK.close()

    def open(self) -> str:
        self.loop = asyncio.new_event_loop()
        self.app, self.task = build_app(self.args.url)
        self.loop.run_until_complete(self._fresh())
        return version("procrastinate")

    async def _fresh(self) -> None:
        await self.app.open_async()
        row = await self.app.connector.execute_query_one_async(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS installed"
        )
        if row["installed"]:
            await self.app.connector.execute_query_async(
                f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"
            )
        else:
            await self.app.schema_manager.apply_schema_async()

    def close(self) -> None:
        self.loop.run_until_complete(self.app.close_async())

    def enqueue(self, i: int, sent: float | None = None) -> None:
        self.loop.run_until_complete(self.task.defer_async(i=i, t=sent))

    def enqueue_all(self, n: int) -> None:
        async def calls() -> None:
            for i in range(n):
                await self.task.defer_async(i=i)

        self.loop.run_until_complete(calls())

    def enqueue_bulk(self, n: int) -> None:
        async def calls() -> None:
            for lo in range(0, n, common.BULK):
                batch = ({"i": i} for i in range(lo, min(lo + common.BULK, n)))
                await self.task.batch_defer_async(*batch)

        self.loop.run_until_complete(calls())

    def enqueued(self, workers: common.Workers, n: int) -> bool:
        """The jobs table holds tasks 0..n-1, once each."""
        rows = self.loop.run_until_complete(
            self.app.connector.execute_query_all_async(
                "SELECT args FROM procrastinate_jobs WHERE task_name = %(name)s", name=TASK
            )
        )
        return sorted(r["args"]["i"] for r in rows) == list(range(n))


if __name__ == "__main__":
    sys.exit(Procrastinate().main())
