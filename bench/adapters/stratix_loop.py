"""stratix-queue's claim and batched success in a loop, with no worker: where the drain's time
goes between the raw SQL and the worker (bench/README.md).

    python stratix_loop.py W3 --n N --url URL

Runs in the project's virtualenv. It fills the queue as the stratix-queue adapter does
(`add_tasks`, untimed), then times, from one thread, the backend's own claim (the worker's
statement, 200 tasks at a time, as the worker's batches go) and its batched move to
queue_success (the completer's) until nothing is left: the SQL of stratix-queue's tables and the
Jobs built from its rows, but no task run, no log line, no thread. Verified: the batched
successes moved every task, and none is left in queue_jobs.
# requires: (the project itself)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from stratix_adapter import tasks

from stratix_queue import QueueService, __version__
from stratix_queue.backends.arguments import ClaimParams

BATCH = 200  # the completer's largest batch; the worker's claims are about this size


def drain(queue: QueueService) -> int:
    moved = 0
    while True:
        params = ClaimParams(
            worker_id=f"loop:{os.getpid()}",
            lease_token=os.urandom(16).hex(),
            limit=BATCH,
            lease_seconds=60.0,
        )
        jobs = queue.backend.claim(params)
        if not jobs:
            return moved
        moved += len(queue.backend.move_many_to_success([(job, 0) for job in jobs]))


def main() -> None:
    args = common.parse_args(common.parser(workloads=("W3",)))
    queue = QueueService(args.url)
    queue.migrate(0)
    queue.migrate()
    out = common.result("stratix-queue (no worker)", __version__, queue.backend.dialect, args)
    for start in range(0, args.n, 5000):
        queue.add_tasks(tasks(start, min(start + 5000, args.n)))
    meter = common.Meter(queue.backend.dialect)
    moved = drain(queue)
    out.update(meter.enqueue())  # in-process: this process's CPU is the "worker's"
    counts = queue.count_by_status()
    out["verified"] = moved == args.n and not any(counts.values())
    queue.close()
    common.emit(out)


if __name__ == "__main__":
    main()
