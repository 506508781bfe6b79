"""The application stratix-queue's bench workers run (`--app bench.adapters.stratix_app:queue`)."""

from __future__ import annotations

import os
import time
from typing import Any

from stratix_queue import QueueService

queue = QueueService(os.environ["STRATIX_QUEUE_URL"])
_sink: Any = None
_sink_pid = 0


def _write(line: str) -> None:
    global _sink, _sink_pid
    if _sink is None or _sink_pid != os.getpid():  # one file per (forked) worker process
        _sink_pid = os.getpid()
        path = os.path.join(os.environ["BENCH_SINK_DIR"], f"sink-{os.getpid()}.txt")
        _sink = open(path, "a", buffering=1, encoding="ascii")  # noqa: SIM115 - one per process
    _sink.write(line)


@queue.executor("bench_noop")
def bench_noop(payload: dict[str, Any]) -> None:
    """Record that task i ran, when, and (for latency runs) how long after it was enqueued: the
    sink line format of bench/adapters/common.py, `index latency_ms|- time`."""
    now = time.time()
    sent = payload.get("t")
    late = "-" if sent is None else f"{(now - sent) * 1000:.3f}"
    _write(f"{payload['i']} {late} {now!r}\n")
