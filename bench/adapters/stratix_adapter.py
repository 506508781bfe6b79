"""stratix-queue under the benchmark contract (bench/ADAPTERS.md), on SQLite, PostgreSQL or
MySQL/MariaDB. Workers are real `stratix-queue worker` processes with the recommended settings.
# requires: (the project itself, from the repository)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, exactly_once, parse_args, percentiles, read_sink, sink_dir

from stratix_queue import QueueService, __version__

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 16  # slots per process; a claim takes as many tasks as there are free slots
TIMEOUT = 600


def fresh_queue(url: str) -> QueueService:
    queue = QueueService(url)
    queue.migrate(0)
    queue.migrate()
    return queue


def start_workers(url: str, processes: int, burst: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STRATIX_QUEUE_URL": url, "PYTHONPATH": str(ROOT)}
    args = [
        sys.executable,
        "-m",
        "stratix_queue",
        "worker",
        "--app",
        "bench.adapters.stratix_app:queue",
        "--concurrency",
        str(CONCURRENCY),
        "--processes",
        str(processes),
    ] + (["--burst"] if burst else [])
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    args = parse_args()
    folder = sink_dir()
    queue = fresh_queue(args.url)
    backend = queue.backend.dialect
    result = {
        "library": "stratix-queue",
        "version": __version__,
        "backend": backend,
        "workload": args.workload,
        "n": args.n,
        "processes": args.processes,
        "seconds": None,
        "tasks_per_s": None,
        "latency_ms": None,
        "verified": False,
        "worker_cpu_s": None,
    }
    tasks = [
        {"name": "bench", "executor": "bench_noop", "payload": {"i": i}} for i in range(args.n)
    ]
    if args.workload == "W1":
        started = time.perf_counter()
        for task in tasks:
            queue.add_task(**task)
        result["seconds"] = time.perf_counter() - started
        result["verified"] = queue.count_by_status()["waiting"] == args.n
    elif args.workload == "W2":
        started = time.perf_counter()
        for start in range(0, args.n, 500):
            queue.add_tasks(tasks[start : start + 500])
        result["seconds"] = time.perf_counter() - started
        result["verified"] = queue.count_by_status()["waiting"] == args.n
    elif args.workload in ("W3", "W5"):
        for start in range(0, args.n, 5000):
            queue.add_tasks(tasks[start : start + 5000])
        cpu = children_cpu()
        started = time.perf_counter()
        proc = start_workers(args.url, args.processes, burst=True)
        proc.wait(TIMEOUT)
        result["seconds"] = time.perf_counter() - started
        result["worker_cpu_s"] = round(children_cpu() - cpu, 2)
        runs, _ = read_sink(folder)
        result["verified"] = proc.returncode == 0 and exactly_once(runs, args.n)
    else:
        result.update(latency(queue, args.url, folder))
    queue.close()
    emit(result)


def latency(queue: QueueService, url: str, folder: Path) -> dict[str, object]:
    """W4: an idle worker; 200 tasks enqueued one at a time, 20 ms apart."""
    count = 200
    proc = start_workers(url, 1, burst=False)
    try:
        deadline = time.monotonic() + 30
        while not queue.list_workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # let it go idle
        for i in range(count):
            queue.add_task(name="bench", executor="bench_noop", payload={"i": i, "t": time.time()})
            time.sleep(0.02)
        deadline = time.monotonic() + 30
        while queue.count_by_status()["waiting"] + queue.count_by_status()["executing"]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(60)
    runs, latencies = read_sink(folder)
    return {"n": count, "latency_ms": percentiles(latencies), "verified": exactly_once(runs, count)}


if __name__ == "__main__":
    main()
