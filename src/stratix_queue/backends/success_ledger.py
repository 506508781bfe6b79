""":class:`SuccessLedger`: the driver operations of the success ledger that every SQL database
runs alike: reading the rollups, pruning old rows a batch at a time, and finding a task that
left queue_jobs. (Writing the rollups is part of the success statements: ``sql_driver.py`` and
each database's driver.) Query names: ``rollups.sql`` and ``retention.sql`` of each package."""

from __future__ import annotations

from stratix_queue.backends.session import Row
from stratix_queue.backends.sql_core import SqlCore
from stratix_queue.retention import Prunable

# What -> (the query counting the old rows, the query deleting one batch of them).
_PRUNE_QUERIES: dict[Prunable, tuple[str, str]] = {
    Prunable.SUCCESSES: ("count_prunable", "prune_success"),
    Prunable.REMOVED: ("count_old_removed", "prune_old_removed"),
    Prunable.ROLLUPS: ("count_old_rollups", "prune_old_rollups"),
    Prunable.ATTEMPT_ERRORS: ("count_orphan_errors", "prune_orphan_errors"),
    Prunable.PAYLOAD_HISTORY: ("count_orphan_payloads", "prune_orphan_payloads"),
}


class SuccessLedger(SqlCore):
    """Mixed into SqlDriver."""

    def rollup_totals(self, since_seconds: float) -> list[Row]:
        """The rollup counters of the minutes since ``since_seconds`` ago, summed per executor,
        group and bucket (a primary-key range read of queue_rollups)."""
        return self._read("rollup_totals", {"since": since_seconds})

    def prune_batch(self, what: Prunable, older_than_seconds: float, limit: int) -> int:
        """Delete up to ``limit`` old rows of one kind, in a transaction of their own; how many."""
        params = {"older_than": older_than_seconds, "batch": limit}
        return self._write(_PRUNE_QUERIES[what][1], params).rowcount

    def count_old(self, what: Prunable, older_than_seconds: float) -> int:
        rows = self._read(_PRUNE_QUERIES[what][0], {"older_than": older_than_seconds})
        return int(rows[0]["count"])

    def find_success(self, job_id: int) -> Row | None:
        rows = self._read("find_success", {"id": job_id})
        return rows[0] if rows else None
