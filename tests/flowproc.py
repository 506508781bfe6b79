"""Worker processes for the flow-control tests (imported by spawned children): each executor
appends one line per run to a shared log, with the times it measured itself."""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Any

from stratix_queue import Job, QueueService


def record(log_path: str, seconds: float, payload: Any, job: Job) -> None:
    started = time.time()
    time.sleep(seconds)
    who = f"{job.id} {job.executor} {job.group or '-'} {os.getpid()}"
    line = f"{who} {started:.6f} {time.time():.6f}\n"
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write under O_APPEND: lines never interleave
    finally:
        os.close(fd)


def run(
    url: str,
    executors: tuple[str, ...],
    concurrency: int,
    burst: bool,
    log_path: str,
    seconds: float,
    start: Any,
) -> None:
    queue = QueueService(url)
    for name in executors:
        queue.register_executor(name, partial(record, log_path, seconds))
    start.wait(60)
    queue.run_worker(concurrency=concurrency, burst=burst, poll_interval=0.2)
    queue.close()


def read_log(log_path: str) -> list[tuple[int, str, str, int, float, float]]:
    """(task id, executor, group, pid, started, ended) per run."""
    runs = []
    with open(log_path) as log:
        for line in log:
            task, executor, group, pid, started, ended = line.split()
            runs.append((int(task), executor, group, int(pid), float(started), float(ended)))
    return runs


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant (an end before a start at a tie)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def most_in_window(starts: list[float], window: float) -> int:
    """The largest number of starts in any half-open window [t, t + window)."""
    ordered = sorted(starts)
    best = first = 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window:
            first += 1
        best = max(best, last - first + 1)
    return best
