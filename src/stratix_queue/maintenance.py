"""A worker's background duties: heartbeat its leases and its registry row, rescue tasks whose
lease expired (any live worker does it), and prune workers that stopped heartbeating."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stratix_queue.backends.base import Backend
from stratix_queue.errors import StratixQueueError
from stratix_queue.params import WorkerRecord

log = logging.getLogger("stratix_queue.worker")
LOST_MESSAGE = (
    "the worker running this task stopped renewing its lease (crashed, killed or cut off)"
)


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """Lease timing. The lease must outlast several heartbeats; all times are the database's."""

    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    rescue_interval: float = 10.0

    @property
    def stale_worker_seconds(self) -> float:
        return max(3 * self.lease_seconds, 60.0)


class Maintenance:
    """Runs in its own thread for the life of a worker."""

    def __init__(
        self,
        backend: Backend,
        worker_id: str,
        concurrency: int,
        groups: Sequence[str] | None,
        leases: LeaseSettings,
        running: Callable[[], list[tuple[int, str]]],
    ) -> None:
        self.backend = backend
        self.running = running  # (id, lease token) of every task the worker holds
        self.worker_id = worker_id
        self.leases = leases
        self.record = WorkerRecord(
            worker_id=worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            concurrency=concurrency,
            group_names=json.dumps(list(groups)) if groups else None,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="stratix-queue-maintenance", daemon=True
        )
        self._healthy = True

    def start(self) -> None:
        self._attempt("register the worker", lambda: self.backend.register_worker(self.record))
        self.rescue()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._attempt(
            "unregister the worker", lambda: self.backend.unregister_worker(self.worker_id)
        )

    def _run(self) -> None:
        next_rescue = time.monotonic() + self.leases.rescue_interval
        while not self._stop.wait(self.leases.heartbeat_seconds):
            self.heartbeat()
            if time.monotonic() >= next_rescue:
                next_rescue = time.monotonic() + self.leases.rescue_interval
                self.rescue()

    def heartbeat(self) -> None:
        self._attempt("renew leases", self._renew)

    def _renew(self) -> None:
        leases = self.running()
        if leases:
            self.backend.heartbeat(self.leases.lease_seconds, leases)
        if not self.backend.heartbeat_worker(self.worker_id):  # pruned while cut off: re-register
            self.backend.register_worker(self.record)

    def rescue(self) -> None:
        self._attempt("rescue expired tasks", self._rescue)

    def _rescue(self) -> None:
        for row in self.backend.rescue_expired(LOST_MESSAGE):
            if int(row["attempts"]) >= int(row["max_attempts"]):
                log.warning(
                    "task failed, marked as failed: id=%s name=%s executor=%s code=WORKER_LOST "
                    "message=%s (worker %s)",
                    row["id"],
                    row["job_name"],
                    row["executor"],
                    LOST_MESSAGE,
                    row["locked_by"],
                )
            else:
                log.warning(
                    "task lease expired, returned to waiting: id=%s name=%s executor=%s "
                    "attempt=%s/%s (worker %s)",
                    row["id"],
                    row["job_name"],
                    row["executor"],
                    row["attempts"],
                    row["max_attempts"],
                    row["locked_by"],
                )
        self.backend.prune_workers(self.leases.stale_worker_seconds)

    def _attempt(self, what: str, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except StratixQueueError as exc:
            if self._healthy:
                log.error(
                    "worker %s could not %s: %s (will keep trying)", self.worker_id, what, exc
                )
            self._healthy = False
            return
        if not self._healthy:
            log.info("worker %s reaches the database again", self.worker_id)
        self._healthy = True
