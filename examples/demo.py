"""The stratix-queue demo: add tasks, run a worker, inspect a failure, fix it, retry it.

Runs on the SQLite default (./stratix-queue.db in the working directory) and ends by itself.
`make demo` runs it in a fresh temporary directory.
"""

from __future__ import annotations

import logging
from typing import Any

from stratix_queue import Job, QueueService

queue = QueueService()  # no URL, no STRATIX_QUEUE_URL: sqlite:///stratix-queue.db
rates = {"EUR": 1.0, "USD": 1.08}  # the data the "convert" executor needs; GBP is missing


@queue.executor("dataProcessor")
def data_processor(payload: dict[str, Any], job: Job) -> None:
    _ = sum(payload["values"])


@queue.executor("convert")
def convert(payload: dict[str, Any], job: Job) -> None:
    if payload["currency"] not in rates:
        raise LookupError(f"no exchange rate for {payload['currency']}")


def show(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="   log: %(message)s")
    print(f"queue: {queue.url}")
    show("migrate")
    for step in queue.migrate():
        print(f"   applied {step.migration.version:03d}_{step.migration.name}")

    show("add tasks")
    jobs = queue.add_tasks(
        [
            {
                "name": "processData",
                "executor": "dataProcessor",
                "payload": {"values": [1, 2, 3]},
                "group": "reports",
            }
            for _ in range(20)
        ]
        + [
            {
                "name": "convertPrice",
                "executor": "convert",
                "payload": {"currency": c},
                "group": "billing",
            }
            for c in ("EUR", "USD", "GBP")
        ]
    )
    print(f"   added {len(jobs)} tasks in one transaction: {queue.count_by_status()}")

    show("run a worker until nothing is runnable")
    stats = queue.run_worker(concurrency=4, burst=True)
    print(f"   succeeded={stats.succeeded} failed={stats.failed}")

    show("failed tasks stay in queue_jobs, with their error")
    for job in queue.get_failed_tasks(100, 0):
        info = job.get_error_info()
        assert info is not None
        print(f"   #{job.id} {job.name} executor={job.executor} group={job.group}")
        print(f"      code={info.code} message={info.message!r} failed_at={info.failed_at}")
        print(f"      stack ends: {info.stack.strip().splitlines()[-1] if info.stack else ''}")

    show("failed-task stats")
    stats_ = queue.get_failed_tasks_stats()
    print(f"   total={stats_.total} by_executor={stats_.by_executor} by_group={stats_.by_group}")

    show("fix the cause, retry the failures, run again")
    rates["GBP"] = 0.86
    result = queue.retry_failed_tasks([job.id for job in queue.get_failed_tasks()])
    print(f"   retried: success={result.success} failed={result.failed}")
    stats = queue.run_worker(concurrency=4, burst=True)
    print(f"   succeeded={stats.succeeded} failed={stats.failed}")
    print(f"   now: {queue.count_by_status()}")
    print("\ndone: every task succeeded.")
    queue.close()


if __name__ == "__main__":
    main()
