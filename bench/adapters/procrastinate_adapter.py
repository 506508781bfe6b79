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
- the task is an ``async def`` that appends its index to the process's sink file.

    python procrastinate_adapter.py W1|W2|W3|W4 --n N [--processes P] --url postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any, TextIO

LIBRARY = "procrastinate"
TASK = "bench_noop"
BULK = 500
W4_TASKS = 200  # W4 is always 200 tasks, 20 ms apart, whatever --n says
TABLES = (
    "procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, procrastinate_workers"
)
CHILDREN: list[subprocess.Popen[bytes]] = []
TMPDIRS: list[str] = []
SINK: dict[str, Any] = {"last_done": 0.0}  # a worker's sink file, folder, last task time


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload", choices=["W1", "W2", "W3", "W4", "worker"])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--url", required=True)
    p.add_argument("--concurrency", type=int, default=1, help="procrastinate worker concurrency")
    p.add_argument("--timeout", type=float, default=None, help="hard limit, seconds")
    p.add_argument("--sink-dir", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["drain", "continuous"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.workload == "W4":
        args.n = W4_TASKS
    if args.timeout is None:
        args.timeout = 120 + args.n / 20  # it drains at ~100-400 tasks/s here
    return args


def build_app(url: str) -> tuple[Any, Any]:
    """The App and its one task (which only runs in worker processes, writing to SINK)."""
    from procrastinate import App, PsycopgConnector

    # Its warning about an App in __main__ concerns task names; this task is named explicitly.
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    app = App(connector=PsycopgConnector(conninfo=url))

    @app.task(name=TASK)
    async def noop(i: int, t: float | None = None) -> None:
        now = time.time()
        sink: TextIO = SINK["file"]
        if i < 0:  # W4 warm-up: the worker is up and listening
            (SINK["dir"] / f"ready-{os.getpid()}").touch()
        elif t is not None:
            sink.write(f"{i} {(now - t) * 1000:.3f}\n")
        else:
            sink.write(f"{i}\n")
        SINK["last_done"] = now

    return app, noop


# --- worker process ------------------------------------------------------------------------


def worker_main(args: argparse.Namespace) -> None:
    signal.alarm(int(args.timeout) + 30)  # never outlive a dead parent for long
    continuous = args.mode == "continuous"
    SINK["dir"] = Path(args.sink_dir)
    # W4's parent polls the sink while the worker runs: flush every line there.
    sink = (SINK["dir"] / f"sink-{os.getpid()}.txt").open("w", buffering=1 if continuous else -1)
    SINK["file"] = sink
    app, _ = build_app(args.url)
    app.run_worker(wait=continuous, concurrency=args.concurrency)
    sink.write(f"end {SINK['last_done']}\n")
    sink.close()


# --- orchestration helpers -----------------------------------------------------------------


def kill_children() -> None:
    for child in CHILDREN:
        with contextlib.suppress(OSError):
            child.kill()


def start_watchdog(timeout: float) -> None:
    """Past *timeout*, or on SIGTERM/SIGINT, kill the workers and exit non-zero at once."""

    def fire(why: str, code: int) -> None:
        print(f"{LIBRARY} adapter: {why}; killing the workers", file=sys.stderr)
        kill_children()
        for folder in TMPDIRS:
            shutil.rmtree(folder, ignore_errors=True)
        os._exit(code)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: fire(f"got signal {signum}", 128 + signum))
    timer = threading.Timer(timeout, fire, (f"timed out after {timeout:.0f} s", 3))
    timer.daemon = True
    timer.start()


def spawn_worker(args: argparse.Namespace, tmp: Path, mode: str) -> subprocess.Popen[bytes]:
    opts = {"url": args.url, "sink-dir": tmp, "mode": mode, "timeout": args.timeout}
    opts["concurrency"] = args.concurrency
    cmd = [sys.executable, os.path.abspath(__file__), "worker"]
    cmd += [item for key, value in opts.items() for item in (f"--{key}", str(value))]
    log = (tmp / f"worker-{len(CHILDREN)}.log").open("wb")
    CHILDREN.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    return CHILDREN[-1]


def reap(children: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise RuntimeError("a worker did not stop in time") from None
        if child.returncode != 0:
            raise RuntimeError(f"a worker exited with code {child.returncode}")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_sinks(tmp: Path) -> tuple[list[int], list[float], list[float]]:
    """Indices run, in-task latencies (ms, W4) and each process's last-task time."""
    indices: list[int] = []
    latencies: list[float] = []
    ends: list[float] = []
    for path in sorted(tmp.glob("sink-*.txt")):
        for line in path.read_text().splitlines():
            head, _, rest = line.partition(" ")
            if head == "end":
                ends.append(float(rest))
            else:
                indices.append(int(head))
                if rest:
                    latencies.append(float(rest))
    return indices, latencies, ends


def percentiles(values: list[float]) -> dict[str, float] | None:
    if len(values) < 2:
        return None
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p95": round(cuts[94], 3), "p99": round(cuts[98], 3)}


# --- workloads -----------------------------------------------------------------------------


async def fresh_app(url: str) -> tuple[Any, Any]:
    app, task = build_app(url)
    await app.open_async()
    row = await app.connector.execute_query_one_async(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS installed"
    )
    if row["installed"]:
        await app.connector.execute_query_async(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    else:
        await app.schema_manager.apply_schema_async()
    return app, task


async def defer_bulk(task: Any, indices: range) -> None:
    for lo in range(indices.start, indices.stop, BULK):
        await task.batch_defer_async(*({"i": i} for i in range(lo, min(lo + BULK, indices.stop))))


async def enqueue_workload(args: argparse.Namespace, result: dict, tmp: Path) -> None:
    app, task = await fresh_app(args.url)
    cpu0, t0 = time.process_time(), time.perf_counter()
    if args.workload == "W1":
        for i in range(args.n):
            await task.defer_async(i=i)
    else:
        await defer_bulk(task, range(args.n))
    result["seconds"] = time.perf_counter() - t0
    result["worker_cpu_s"] = time.process_time() - cpu0  # the enqueuing process itself
    rows = await app.connector.execute_query_all_async(
        "SELECT args FROM procrastinate_jobs WHERE task_name = %(name)s", name=TASK
    )
    result["verified"] = sorted(r["args"]["i"] for r in rows) == list(range(args.n))
    await app.close_async()


async def drain_workload(args: argparse.Namespace, result: dict, tmp: Path) -> None:
    app, task = await fresh_app(args.url)
    await defer_bulk(task, range(args.n))
    await app.close_async()
    cpu0, t0 = children_cpu(), time.time()
    reap([spawn_worker(args, tmp, "drain") for _ in range(args.processes)], args.timeout)
    result["wall_s"] = round(time.time() - t0, 3)  # until the last worker process has exited
    result["worker_cpu_s"] = children_cpu() - cpu0
    indices, _, ends = read_sinks(tmp)
    result["seconds"] = max(ends) - t0  # until the last task done
    result["verified"] = sorted(indices) == list(range(args.n))


async def latency_workload(args: argparse.Namespace, result: dict, tmp: Path) -> None:
    app, task = await fresh_app(args.url)
    cpu0 = children_cpu()
    worker = spawn_worker(args, tmp, "continuous")
    try:
        await task.defer_async(i=-1)  # warm-up: wait until it has run
        deadline = time.monotonic() + 60
        while not list(tmp.glob("ready-*")):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # idle again
        t0 = time.perf_counter()
        for i in range(args.n):  # on a fixed 20 ms grid: an enqueue's own time does not drift it
            await asyncio.sleep(max(0.0, t0 + i * 0.020 - time.perf_counter()))
            await task.defer_async(i=i, t=time.time())
        deadline = time.monotonic() + 30
        while len(read_sinks(tmp)[0]) < args.n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        result["seconds"] = time.perf_counter() - t0
    finally:
        worker.send_signal(signal.SIGTERM)
        reap([worker], 30)
        await app.close_async()
    result["worker_cpu_s"] = children_cpu() - cpu0
    indices, latencies, _ = read_sinks(tmp)
    result["latency_ms"] = percentiles(latencies)
    result["verified"] = sorted(indices) == list(range(args.n)) and len(latencies) == args.n


def main() -> int:
    args = parse_args()
    if args.workload == "worker":
        worker_main(args)
        return 0
    start_watchdog(args.timeout)
    processes = args.processes if args.workload == "W3" else 1
    result: dict = {"library": LIBRARY, "version": version(LIBRARY), "backend": "postgres"}
    result |= {"workload": args.workload, "n": args.n, "processes": processes}
    result |= dict.fromkeys(("seconds", "tasks_per_s", "latency_ms", "worker_cpu_s"))
    result |= {"verified": False, "settings": {"connector": "PsycopgConnector"}}
    result["settings"] |= {"concurrency": args.concurrency, "enqueue_batch": BULK}
    run = {"W1": enqueue_workload, "W2": enqueue_workload, "W3": drain_workload}
    with tempfile.TemporaryDirectory(prefix=f"bench-{LIBRARY}-") as tmpdir:
        tmp = Path(tmpdir)
        TMPDIRS.append(tmpdir)
        try:
            asyncio.run(run.get(args.workload, latency_workload)(args, result, tmp))
        except Exception as exc:
            logs = "".join(p.read_text(errors="replace")[-2000:] for p in tmp.glob("*.log"))
            print(f"{LIBRARY} adapter failed: {exc!r}\n{logs}", file=sys.stderr)
            kill_children()
            for child in CHILDREN:
                child.wait()
            return 1
    if args.workload != "W4":
        result["tasks_per_s"] = round(args.n / result["seconds"], 1)
    result["seconds"] = round(result["seconds"], 3)
    result["worker_cpu_s"] = round(result["worker_cpu_s"], 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
