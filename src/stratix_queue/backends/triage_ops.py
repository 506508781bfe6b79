""":class:`TriageOps`: the reads of the failure ledger behind ``failed list`` and ``failed
stats`` (queries in each database's ``triage.sql``). Pages are keyset pages on the failed-task
indexes of migration 006; grouped counts come from ``queue_failure_counts`` when the filter
names only columns it keeps, else from the matching failed rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from stratix_queue.backends.ledger_core import LedgerCore
from stratix_queue.backends.session import Row
from stratix_queue.backends.sql_core import SqlFragment
from stratix_queue.job import Job

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter


class TriageOps(LedgerCore):
    """Read-only operations on failed tasks and their kept counts."""

    def failed_page(
        self, failures: FailureFilter, limit: int, before: tuple[datetime, int] | None
    ) -> list[Job]:
        """Up to ``limit`` failed tasks matching the filter, newest ``failed_at`` first (then
        highest id), after the keyset ``before`` = (failed_at, id) of the previous page's last
        task (naive UTC); None: from the newest."""
        matching = self._failed_filter(failures)
        if before is not None:
            at, job_id = before
            keyset = self.queries["failed_before"]
            matching = SqlFragment(
                f"{matching.sql} AND {keyset}",
                {**matching.params, "before_at": at, "before_id": job_id},
            )
        seen: dict[object, datetime | None] = {}
        rows = self._read("failed_page", {"filter": matching, "limit": limit})
        return [Job.from_row(row, seen) for row in rows]

    def kept_fingerprint_stats(self, failures: FailureFilter) -> list[Row]:
        """Four rows per fingerprint from queue_failure_counts (the rows the filter's executor,
        group, code and fingerprint select; the caller refuses other fields, which this table
        lacks): kind 'total' with failed, first_seen, last_seen and sample_message, and kinds
        'executor', 'group' and 'code' with its failures by each as a JSON object in counts
        ('' for none)."""
        return self._read("kept_fingerprint_stats", {"filter": self._failed_filter(failures)})

    def kept_failed_count(self, failures: FailureFilter) -> int:
        """How many failed tasks match the filter, from queue_failure_counts (executor, group,
        code and fingerprint only, as kept_fingerprint_stats)."""
        rows = self._read("kept_failed_count", {"filter": self._failed_filter(failures)})
        return int(rows[0]["count"])

    def recount_failures(self, failures: FailureFilter) -> list[Row]:
        """Rows shaped as queue_failure_counts', counted from the failed tasks matching any
        filter (first_seen/last_seen: their oldest and newest failed_at)."""
        return self._read("recount_failures", {"filter": self._failed_filter(failures)})
