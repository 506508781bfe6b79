"""QueueService's failed tasks: the seed's list, retries and stats, and triage by filter
(triage.py).

The modules these methods use are imported in them: a worker process, which imports
QueueService, never loads them (their import time was a measurable part of a short drain)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.arguments import JobFilter
from stratix_queue.backends.driver import Driver
from stratix_queue.errors import InvalidInputError
from stratix_queue.job import (
    KEPT_COUNTS,
    ROWS,
    FailedTasksStats,
    Job,
    JobStatus,
    RetryResult,
)
from stratix_queue.repository import JobRepository
from stratix_queue.validation import (
    check_int,
    check_name,
    check_page,
    check_task_id,
    encode_payload,
)

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter
    from stratix_queue.triage import (
        FailedPage,
    )

MAX_FAILED_PAGE = 10_000
KEEP_PAYLOAD: Any = object()  # retry_failed_task without a new payload (None is a payload)


class FailedTasks:
    """Failed tasks: list (by offset or keyset), count, stats, retry."""

    backend: Driver
    repository: JobRepository
    max_payload_bytes: int
    _encoder: json.JSONEncoder
    _wakeup: threading.Event

    def get_failed_tasks(self, limit: int = 100, offset: int = 0) -> list[Job]:
        """Failed tasks, newest ``failed_at`` first."""
        limit, offset = check_page(limit, offset)
        return self.backend.list_failed(limit, offset)

    def retry_failed_task(
        self,
        task_id: int,
        payload: Any = KEEP_PAYLOAD,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Reset a failed task to waiting; False if it is not failed or does not exist.

        ``payload``: fix, then retry: the task runs with this payload (checked as add_task
        checks it), the old one kept in its history (``get_task_history``), in the same
        transaction. Audited as ``actor`` (default: the OS user) with ``reason``."""
        from stratix_queue import actions

        check_task_id(task_id)
        entry = actions.audit("retry", actor, reason)
        payload_json = None
        if payload is not KEEP_PAYLOAD:
            payload_json = encode_payload(payload, self.max_payload_bytes, self._encoder)
        return task_id in self.repository.reset_failed([task_id], entry, payload_json)

    def retry_failed_tasks(
        self, task_ids: Sequence[int], *, actor: str | None = None, reason: str | None = None
    ) -> RetryResult:
        """Retry many failed tasks; ``.success`` were reset, ``.failed`` were not failed.
        Audited: one row per 500 ids, naming the first 50 of them."""
        from stratix_queue import actions

        ids = actions.task_ids(task_ids, "retry_failed_tasks")
        reset = self.repository.reset_failed(ids, actions.audit("retry", actor, reason))
        if reset:
            self._wakeup.set()
        return RetryResult(
            success=[i for i in ids if i in reset], failed=[i for i in ids if i not in reset]
        )

    # -- failure triage (triage.py) ---------------------------------------------------------

    def get_failed_tasks_stats(
        self, filter: FailureFilter | None = None, **filter_fields: Any
    ) -> FailedTasksStats:
        """Failed tasks in all, by executor, by group (None: no group), by error code and by
        fingerprint (the inbox: biggest first), of those matching the filter (a FailureFilter,
        or its fields as keywords). Read from the kept counts, never the failed rows, unless
        the filter names a message, times or attempts: then counted from the matching rows
        (``counted_from`` says which)."""
        from stratix_queue.triage import (
            by_fingerprint,
            counts_from_kept,
            joined,
            resolve_filter,
            stats_of,
        )

        failures = resolve_filter(filter, filter_fields)
        if counts_from_kept(failures):
            return stats_of(joined(self.backend.kept_fingerprint_stats(failures)), KEPT_COUNTS)
        return stats_of(by_fingerprint(self.backend.recount_failures(failures)), ROWS)

    def list_failed_tasks(
        self,
        filter: FailureFilter | None = None,
        limit: int = 50,
        cursor: str | None = None,
        **filter_fields: Any,
    ) -> FailedPage:
        """A page of the failed tasks matching the filter (a FailureFilter, or its fields as
        keywords: ``executor="convert", since="2h"``), newest failure first. Pass the page's
        ``next_cursor`` back as ``cursor`` for the next one; paging is by keyset, as fast at
        any depth, and tasks failing meanwhile are neither repeated nor make one skipped."""
        from stratix_queue.triage import decode_cursor, page_of, resolve_filter

        failures = resolve_filter(filter, filter_fields)
        limit = check_int(limit, "limit", 1, MAX_FAILED_PAGE)
        before = None if cursor is None else decode_cursor(cursor)
        return page_of(self.backend.failed_page(failures, limit + 1, before), limit)

    def count_failed_tasks(self, filter: FailureFilter | None = None, **filter_fields: Any) -> int:
        """How many failed tasks match the filter (what a bulk action on it would touch): from
        the kept counts when it names only executor, group, code and fingerprint."""
        from stratix_queue.triage import counts_from_kept, resolve_filter

        failures = resolve_filter(filter, filter_fields)
        if counts_from_kept(failures):
            return self.backend.kept_failed_count(failures)
        return self.backend.count_failed(failures)

    def find_failed_task_ids(
        self, executor: str | None = None, group: str | None = None, code: str | None = None
    ) -> list[int]:
        """Ids of failed tasks matching every filter given (for bulk retries)."""
        filters = job_filter(JobStatus.FAILED, group, executor)
        if code is not None and not isinstance(code, str):
            raise InvalidInputError("code must be a string")
        return self.backend.failed_ids(
            JobFilter(group=filters.group, executor=filters.executor, code=code)
        )


def job_filter(status: object, group: object, executor: object) -> JobFilter:
    """The checked filter of a task listing (list_tasks, find_failed_task_ids)."""
    value = None
    if status is not None:
        try:
            value = JobStatus(str(status)).value
        except ValueError:
            statuses = ", ".join(s.value for s in JobStatus)
            raise InvalidInputError(f"status must be one of {statuses}, not {status!r}") from None
    return JobFilter(
        status=value,
        group=check_name(group, "group", optional=True),
        executor=check_name(executor, "executor", optional=True),
    )
