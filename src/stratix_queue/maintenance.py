"""A worker's background duties: heartbeat its leases and its registry row, rescue tasks whose
lease expired (any live worker does it), prune workers that stopped heartbeating, and prune
what is past its retention period (retention.py; every worker does it, a few batches a time)."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stratix_queue.backends.arguments import WorkerRecord
from stratix_queue.backends.driver import Driver
from stratix_queue.errors import StratixQueueError
from stratix_queue.group_watch import GroupWatch
from stratix_queue.retention import BACKLOG_SWEEP_SECONDS, SWEEP_SECONDS, Retention, Sweeper
from stratix_queue.scheduler import SCHEDULER_SECONDS, enqueue_due
from stratix_queue.worker_options import LeaseSettings

log = logging.getLogger("stratix_queue.worker")
LOST_MESSAGE = (
    "the worker running this task stopped renewing its lease (crashed, killed or cut off)"
)
HEARTBEAT_RETRY_SECONDS = 0.5
# How often the starts of tasks running for a while are written (the worker's _mark_starts):
# the maintenance thread's tick.
MARK_TICK_SECONDS = 0.05
UNSTARTED_MESSAGE = (
    "the worker holding this task stopped renewing its lease (crashed, killed or cut off) "
    "before the task started; not counted as an attempt"
)


class Maintenance:
    """Runs in its own thread for the life of a worker."""

    def __init__(
        self,
        backend: Driver,
        worker_id: str,
        concurrency: int,
        groups: Sequence[str] | None,
        leases: LeaseSettings,
        held: Callable[[], list[tuple[int, str]]],
        mark_starts: Callable[[], object],
        retention: Retention | None = None,
        executors: Sequence[str] = (),
        schedules: bool = False,
    ) -> None:
        self.backend = backend
        self.sweeper = Sweeper(backend.prune_batch, retention or Retention(None, None, None))
        self.held = held  # (id, lease token) of every task whose lease the worker renews
        self.mark_starts = mark_starts  # writes the starts of tasks running for a while (False:
        # there were none)
        self.worker_id = worker_id
        self.groups = GroupWatch(backend)  # timed pauses and breakers (docs/groups.md)
        self.leases = leases
        self.schedules = schedules
        self.record = WorkerRecord(
            worker_id=worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            concurrency=concurrency,
            group_names=json.dumps(list(groups)) if groups else None,
            executors=json.dumps(list(executors)),
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="stratix-queue-maintenance", daemon=True
        )

    def start(self) -> None:
        self._attempt("register the worker", lambda: self.backend.register_worker(self.record))
        self.rescue()
        self.run_schedules()  # a burst worker enqueues what is due before it looks for work
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._attempt(
            "unregister the worker", lambda: self.backend.unregister_worker(self.worker_id)
        )

    def _run(self) -> None:
        now = time.monotonic()
        next_heartbeat = now + self.leases.heartbeat_seconds
        next_rescue = now + self.leases.rescue_interval
        # The first sweep at a random point of the first interval: workers started together
        # (a deploy) do not all prune at once.
        next_prune = now + random.uniform(0.1, 1.0) * SWEEP_SECONDS
        next_schedules = now + random.uniform(0.0, 1.0) * SCHEDULER_SECONDS
        while not self._stop.wait(MARK_TICK_SECONDS):
            self._attempt("record that tasks started", self.mark_starts)
            self._attempt("watch paused groups and breakers", self.groups.tick)
            now = time.monotonic()
            if now >= next_heartbeat:
                renewed = self.heartbeat()
                # A failed renewal is tried again soon: the leases run out otherwise.
                pause = self.leases.heartbeat_seconds if renewed else HEARTBEAT_RETRY_SECONDS
                next_heartbeat = time.monotonic() + pause
            if now >= next_rescue:
                next_rescue = now + self.leases.rescue_interval
                self.rescue()
                self._attempt("fix the gates of changed groups", self.backend.fix_gates)
            if now >= next_prune:
                pending = self.prune()
                next_prune = time.monotonic() + (
                    BACKLOG_SWEEP_SECONDS if pending else SWEEP_SECONDS
                )
            if now >= next_schedules:
                next_schedules = now + SCHEDULER_SECONDS
                self.run_schedules()

    def heartbeat(self) -> bool:
        return self._attempt("renew leases", self._renew)

    def _renew(self) -> None:
        leases = self.held()
        if leases:
            self.backend.heartbeat(self.leases.lease_seconds, leases)
        if not self.backend.heartbeat_worker(self.worker_id):  # pruned while cut off: re-register
            self.backend.register_worker(self.record)

    def rescue(self) -> None:
        self._attempt("rescue expired tasks", self._rescue)

    def _rescue(self) -> None:
        for row in self.backend.rescue_expired(LOST_MESSAGE, UNSTARTED_MESSAGE):
            _log_rescued(row)
        self.backend.prune_workers(self.leases.stale_worker_seconds)

    def run_schedules(self) -> None:
        """Enqueue the due ticks of schedules (scheduler.py), if this worker runs them."""
        if self.schedules:
            self._attempt("enqueue scheduled tasks", lambda: enqueue_due(self.backend))

    def prune(self) -> bool:
        """One retention sweep of a few batches; True if old rows are left for the next."""
        pending: list[bool] = []
        self._attempt("prune old records", lambda: pending.append(self.sweeper.sweep_once()))
        return bool(pending and pending[0])

    def _attempt(self, what: str, action: Callable[[], object]) -> bool:
        """Run ``action``; False if the database failed it. An action that returns False did
        not reach the database (nothing to do), which tells nothing of its health."""
        try:
            reached = action()
        except StratixQueueError as exc:
            self.backend.health.failed(what, exc)  # logged once per outage
            return False
        if reached is not False:
            self.backend.health.ok()
        return True


def _log_rescued(row: Mapping[str, Any]) -> None:
    where = (row["id"], row["job_name"], row["executor"])
    if not row["started"]:
        log.warning(
            "task lease expired before it started, back to waiting (not counted): "
            "id=%s name=%s executor=%s (worker %s)",
            *where,
            row["locked_by"],
        )
    elif int(row["attempts"]) >= int(row["max_attempts"]):
        log.warning(
            "task failed, marked as failed: id=%s name=%s executor=%s code=WORKER_LOST "
            "message=%s (worker %s)",
            *where,
            LOST_MESSAGE,
            row["locked_by"],
        )
    else:
        log.warning(
            "task lease expired, returned to waiting: id=%s name=%s executor=%s "
            "attempt=%s/%s (worker %s)",
            *where,
            row["attempts"],
            row["max_attempts"],
            row["locked_by"],
        )
