"""QueueService's success ledger: throughput from the rollups, retention by hand, and a task
looked up wherever it is.

The modules these methods use are imported in them: a worker process, which imports
QueueService, never loads them (their import time was a measurable part of a short drain)."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from stratix_queue.backends.driver import Driver
from stratix_queue.durations import Seconds
from stratix_queue.errors import InvalidInputError
from stratix_queue.repository import JobRepository
from stratix_queue.retention import (
    DEFAULT_KEEP_REMOVED,
    DEFAULT_KEEP_ROLLUPS,
    DEFAULT_KEEP_SUCCESSES,
    PruneReport,
    retention_of,
    sweep,
)
from stratix_queue.retention import dry_run as dry_run_counts
from stratix_queue.rollups import GROUPINGS, ThroughputRow, throughput
from stratix_queue.validation import (
    check_delay,
    check_task_id,
    in_id_range,
)

if TYPE_CHECKING:
    from stratix_queue.task_record import TaskRecord


class SuccessLedger:
    """Throughput, pruning and finding a task in any table."""

    backend: Driver
    repository: JobRepository
    max_payload_bytes: int
    _encoder: json.JSONEncoder
    _wakeup: threading.Event

    def prune_succeeded(self, older_than: Seconds, dry_run: bool = False) -> int:
        """Delete (dry run: count) queue_success rows completed more than ``older_than`` ago."""
        return self.backend.prune_success(check_delay(older_than, "older_than"), dry_run)

    def prune(
        self,
        keep_successes: Seconds | None = DEFAULT_KEEP_SUCCESSES,
        keep_rollups: Seconds | None = DEFAULT_KEEP_ROLLUPS,
        keep_removed: Seconds | None = DEFAULT_KEEP_REMOVED,
        dry_run: bool = False,
    ) -> PruneReport:
        """Delete (dry run: count) what is older than its period, until none is left, as the
        worker does a few batches at a time (retention.py); None keeps that kind (0 deletes all
        of it). The attempt errors and earlier payloads of tasks then nowhere go too. The
        report counts each kind: successes, removed, rollups, attempt_errors, payload_history."""
        given = retention_of(keep_successes, keep_rollups, keep_removed, zero_keeps=False)
        periods = given.periods()
        if dry_run:
            return dry_run_counts(self.backend.count_old, periods)
        return sweep(self.backend.prune_batch, periods, None)

    def get_throughput(self, since: Seconds = "24h", by: str | None = None) -> list[ThroughputRow]:
        """Outcomes of the minutes since ``since`` ago (the one it falls in included), for all
        tasks or per ``by`` ("executor" or "group"), from queue_rollups alone. The percentiles
        are estimates from fixed run-time buckets (rollups.py); ``ThroughputRow.percentiles``
        says how they were made."""
        seconds = check_delay(since, "since")
        if by is not None and by not in GROUPINGS:
            raise InvalidInputError(f"by must be one of {', '.join(GROUPINGS)} or None, not {by!r}")
        return throughput(self.backend.rollup_totals(seconds), by)

    def find_task(self, task_id: int) -> TaskRecord | None:
        """The task wherever it is: in queue_jobs (waiting, failed...), in queue_success
        (succeeded) or removed (discarded or cancelled); None if it is nowhere (never added,
        or pruned)."""
        from stratix_queue.task_record import TaskRecord

        check_task_id(task_id)
        if not in_id_range(task_id):
            return None
        job = self.backend.get_job(task_id)
        if job is not None:
            return TaskRecord.in_queue(job)
        row = self.backend.find_success(task_id)
        if row is not None:
            return TaskRecord.succeeded(row)
        row = self.backend.removed_task(task_id)
        return None if row is None else TaskRecord.removed(row)
