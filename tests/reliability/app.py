"""The application the reliability tests run under `stratix-queue worker --app`.

Executors append one line per run to a file of their process in $STRATIX_TEST_RUNS_DIR:
``task_id attempt pid start end`` (end is 0 until the run ends, when a second line is written),
so a test can count runs and check that no task ran twice at the same time without touching the
database it is disturbing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from stratix_queue import Job, QueueService

queue = QueueService(os.environ.get("STRATIX_QUEUE_URL"))


def _record(job: Job, phase: str, started: float) -> None:
    folder = os.environ["STRATIX_TEST_RUNS_DIR"]
    line = f"{job.id} {job.attempts} {os.getpid()} {phase} {started:.6f} {time.time():.6f}\n"
    with open(os.path.join(folder, f"runs-{os.getpid()}.log"), "a", encoding="ascii") as sink:
        sink.write(line)


@queue.executor("count")
def count(payload: dict[str, Any], job: Job) -> None:
    _record(job, "end", time.time())


@queue.executor("sleep")
def sleep(payload: dict[str, Any], job: Job) -> None:
    started = time.time()
    _record(job, "start", started)
    time.sleep(float(payload.get("seconds", 1.0)))
    _record(job, "end", started)


@queue.executor("suicide", max_attempts=2, backoff=0)
def suicide(payload: dict[str, Any], job: Job) -> None:
    _record(job, "start", time.time())
    os.kill(os.getpid(), signal.SIGKILL)


@queue.executor("exit_now", max_attempts=3, backoff=0)
def exit_now(payload: dict[str, Any], job: Job) -> None:
    _record(job, "start", time.time())
    os._exit(1)


@queue.executor("hard_sleep", timeout=2, isolation="process")
def hard_sleep(payload: dict[str, Any], job: Job) -> None:
    time.sleep(float(payload.get("seconds", 30.0)))


@queue.executor("async_sleep", timeout=2)
async def async_sleep(payload: dict[str, Any], job: Job) -> None:
    await asyncio.sleep(float(payload.get("seconds", 30.0)))
