# requires: pgqueuer==1.6.0 asyncpg==0.32.0
"""Benchmark adapter for pgqueuer (PostgreSQL), per bench/ADAPTERS.md.

Virtualenv: ``pip install pgqueuer==1.6.0 asyncpg==0.32.0``

How pgqueuer is driven (its documented defaults, as ``pgq install`` / ``pgq run`` use them):
- schema: ``Queries.install()`` (what ``pgq install`` runs), after ``uninstall()`` if present;
- enqueue: ``Queries.enqueue(entrypoint, payload)`` over an asyncpg connection, one call per
  task (W1) or one call with lists of 500 (W2);
- workers: ``pgqueuer.run(factory, ...)`` (the Python form of ``pgq run``, on uvloop), one
  ``PgQueuer`` over one asyncpg connection per process, ``batch_size=10`` (the CLI default),
  ``mode=drain`` for W3 (exit when the queue is empty), continuous + SIGTERM for W4;
- the task is an ``async def`` entrypoint that records its index in the process's sink.

    python pgqueuer_adapter.py W1|W2|W3|W4 --n N [--processes P] --url postgresql://...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

ENTRYPOINT = "bench_noop"


def payload(i: int, sent: float | None = None) -> bytes:
    return json.dumps({"i": i} if sent is None else {"i": i, "t": sent}).encode()


class PgQueuer(common.Adapter):
    library = "pgqueuer"
    backend = "postgres"
    script = __file__
    idle = 0.5
    drains_and_exits = True  # mode=drain

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=10, help="dequeue batch size")

    def worker_options(self) -> list[str]:
        return ["--batch-size", str(self.args.batch_size)]

    def settings(self) -> dict[str, Any]:
        settings = {"driver": "asyncpg", "worker_loop": "uvloop"}
        return settings | {"batch_size": self.args.batch_size, "enqueue_batch": common.BULK}

    def worker_main(self) -> None:
        """One worker process: ``pgqueuer.run`` until the queue is empty (drain) or SIGTERM."""
        import asyncpg
        import pgqueuer
        import uvloop
        from pgqueuer.models import Job
        from pgqueuer.types import QueueExecutionMode

        continuous = self.args.mode == "continuous"
        sink = common.Sink(buffered=not continuous)  # W4's parent reads it as the worker runs

        @contextlib.asynccontextmanager
        async def factory() -> AsyncIterator[Any]:
            conn = await asyncpg.connect(self.args.url)
            try:
                pgq = pgqueuer.PgQueuer.from_asyncpg_connection(conn)

                @pgq.entrypoint(ENTRYPOINT)
                async def noop(job: Job) -> None:
                    data = json.loads(job.payload or b"{}")
                    sink.write(data["i"], data.get("t"))

                yield pgq
            finally:
                await conn.close()

        mode = QueueExecutionMode.continuous if continuous else QueueExecutionMode.drain
        uvloop.run(pgqueuer.run(factory, batch_size=self.args.batch_size, mode=mode))
        sink.close()

    def open(self) -> str:
        self.loop = asyncio.new_event_loop()
        self.conn, self.queries = self.loop.run_until_complete(self._fresh())
        return version("pgqueuer")

    async def _fresh(self) -> tuple[Any, Any]:
        import asyncpg
        from pgqueuer.db import AsyncpgDriver
        from pgqueuer.queries import Queries

        conn = await asyncpg.connect(self.args.url)
        queries = Queries(AsyncpgDriver(conn))
        if await queries.schema_is_installed():
            await queries.uninstall()
        await queries.install()
        return conn, queries

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())

    def enqueue(self, i: int, sent: float | None = None) -> None:
        self.loop.run_until_complete(self.queries.enqueue(ENTRYPOINT, payload(i, sent)))

    def enqueue_all(self, n: int) -> None:
        async def calls() -> None:
            for i in range(n):
                await self.queries.enqueue(ENTRYPOINT, payload(i))

        self.loop.run_until_complete(calls())

    def enqueue_bulk(self, n: int) -> None:
        async def calls() -> None:
            for lo in range(0, n, common.BULK):
                ids = range(lo, min(lo + common.BULK, n))
                await self.queries.enqueue(
                    [ENTRYPOINT] * len(ids), [payload(i) for i in ids], [0] * len(ids)
                )

        self.loop.run_until_complete(calls())

    def enqueued(self, workers: common.Workers, n: int) -> bool:
        """The queue table holds tasks 0..n-1, once each."""
        table = self.queries.qbe.settings.queue_table
        sql = f"SELECT payload FROM {table} WHERE entrypoint = $1"
        rows = self.loop.run_until_complete(self.conn.fetch(sql, ENTRYPOINT))
        return sorted(json.loads(r["payload"])["i"] for r in rows) == list(range(n))


if __name__ == "__main__":
    sys.exit(PgQueuer().main())
