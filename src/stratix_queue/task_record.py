"""Where a task is: :class:`TaskRecord`, built by ``QueueService.find_task`` from whichever table
holds it. A task lives in ``queue_jobs`` until it succeeds (then ``queue_success``) or an
operator discards or cancels it (then ``queue_removed``); retention prunes the last two."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stratix_queue.clock import to_utc
from stratix_queue.job import Job
from stratix_queue.records import stored_value

IN_QUEUE, SUCCEEDED, REMOVED = "queue_jobs", "queue_success", "removed"
# A TaskRecord's fields that a Job in queue_jobs has under the same name.
_FROM_JOB = (
    "id",
    "name",
    "executor",
    "group",
    "payload",
    "priority",
    "attempts",
    "created_at",
    "max_attempts",
    "started_at",
    "error_message",
    "error_stack",
    "error_code",
    "failed_at",
)


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task wherever it is. ``where``: ``"queue_jobs"`` (``job`` is the Job, ``status`` its
    status), ``"queue_success"`` (``status`` is ``"succeeded"``; completed_at, execution time)
    or ``"removed"`` (``status`` is ``"discarded"`` or ``"cancelled"``; who, when, why, and the
    last error)."""

    id: int
    where: str
    status: str
    name: str
    executor: str
    group: str | None
    payload: Any
    priority: int
    attempts: int
    created_at: datetime | None
    job: Job | None = None
    max_attempts: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    execution_time_ms: int | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None
    reason: str | None = None
    status_before: str | None = None  # removed: the status it had in queue_jobs
    error_message: str | None = None
    error_stack: str | None = None
    error_code: str | None = None
    failed_at: datetime | None = None

    @classmethod
    def in_queue(cls, job: Job) -> TaskRecord:
        same = {name: getattr(job, name) for name in _FROM_JOB}
        return cls(where=IN_QUEUE, status=job.status.value, job=job, **same)

    @classmethod
    def succeeded(cls, row: Mapping[str, Any]) -> TaskRecord:
        time = row["execution_time"]
        return cls(
            **_common(row),
            where=SUCCEEDED,
            status="succeeded",
            started_at=to_utc(row["started_at"]),
            completed_at=to_utc(row["completed_at"]),
            execution_time_ms=None if time is None else int(time),
        )

    @classmethod
    def removed(cls, row: Mapping[str, Any]) -> TaskRecord:
        return cls(
            **_common(row),
            where=REMOVED,
            status=str(row["outcome"]),
            max_attempts=int(row["max_attempts"]),
            removed_at=to_utc(row["removed_at"]),
            removed_by=row["removed_by"],
            reason=row["reason"],
            status_before=row["status"],
            **{name: row[name] for name in ("error_message", "error_stack", "error_code")},
            failed_at=to_utc(row["failed_at"]),
        )


def _common(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "name": row["job_name"],
        "executor": row["executor"],
        "group": row["group_name"],
        "payload": stored_value(row["payload"]),
        "priority": int(row["priority"]),
        "attempts": int(row["attempts"]),
        "created_at": to_utc(row["created_at"]),
    }
