"""Scheduler processes for the exactly-once test of schedules (imported by spawned children)."""

from __future__ import annotations

import time
from typing import Any

from stratix_queue import QueueService
from stratix_queue.scheduler import enqueue_due


def run(url: str, start: Any, seconds: float, results: Any) -> None:
    """Run the scheduler as a worker's maintenance thread does, but every 5 ms, for
    ``seconds``; put the ids of the tasks this process enqueued on ``results``."""
    queue = QueueService(url)
    start.wait(60)
    mine: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        mine += [job.id for job in enqueue_due(queue.backend)]
        time.sleep(0.005)
    queue.close()
    results.put(mine)
