"""The immutable task model: :class:`Job`, :class:`JobStatus` and the result types."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stratix_queue.clock import to_utc, to_utc_once
from stratix_queue.frozen import fast_constructor


class JobStatus(StrEnum):
    """The five statuses a task in ``queue_jobs`` can have."""

    WAITING = "waiting"
    EXECUTING = "executing"
    DELAYED = "delayed"
    PAUSED = "paused"
    FAILED = "failed"


STATUSES = {status.value: status for status in JobStatus}  # a row's text -> JobStatus


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a failure recorded: the seed's ``getErrorInfo()``."""

    message: str | None
    stack: str | None
    code: str | None
    failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Job:
    """A task as read from ``queue_jobs``. It never talks to the database."""

    id: int
    name: str
    executor: str
    payload: Any
    group: str | None
    status: JobStatus
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 1
    run_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    locked_by: str | None = None
    locked_until: datetime | None = None
    lease_token: str | None = None
    error_message: str | None = None
    error_stack: str | None = None
    error_code: str | None = None
    failed_at: datetime | None = None
    timeout: float | None = None  # seconds; None: the executor's default, if any
    unique_key: str | None = None  # docs/unique_tasks.md
    duplicate: bool = False  # add_task found a task holding unique_key: this is that task

    @classmethod
    def from_row(
        cls, row: Mapping[str, Any], seen: dict[Any, datetime | None] | None = None
    ) -> Job:
        """Build a Job from a ``queue_jobs`` row given as a column-name mapping. Rows read
        together may share ``seen`` (a dict) so a timestamp they share is converted once."""
        try:
            return cls._from_row(row, {} if seen is None else seen)
        except _UNREADABLE_ERRORS:
            return _tolerant_job(row, JobStatus.EXECUTING)

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], seen: dict[Any, datetime | None]) -> Job:
        get = row.get
        payload = row["payload"]
        if isinstance(payload, bytes | bytearray):
            payload = payload.decode("utf-8")
        timeout = get("timeout_seconds")
        return make_job(
            int(row["id"]),
            row["job_name"],
            row["executor"],
            json.loads(payload) if isinstance(payload, str) else payload,
            get("group_name"),
            STATUSES[row["status"]],
            int(get("priority") or 0),
            int(get("attempts") or 0),
            int(get("max_attempts") or 1),
            to_utc_once(get("run_at"), seen),
            to_utc_once(get("created_at"), seen),
            to_utc_once(get("updated_at"), seen),
            to_utc_once(get("started_at"), seen),
            get("locked_by"),
            to_utc_once(get("locked_until"), seen),
            get("lease_token"),
            get("error_message"),
            get("error_stack"),
            get("error_code"),
            to_utc_once(get("failed_at"), seen),
            None if timeout is None else float(timeout),
            get("unique_key"),
        )

    def is_failed(self) -> bool:
        """True when the task is in the ``failed`` status."""
        return self.status is JobStatus.FAILED

    def get_error_info(self) -> ErrorInfo | None:
        """The recorded error of a failed task, or None when the task has not failed."""
        if not self.is_failed():
            return None
        return ErrorInfo(
            message=self.error_message,
            stack=self.error_stack,
            code=self.error_code,
            failed_at=self.failed_at,
        )


# Job(...) for the hot path: every task inserted or claimed. Kept (issue 14, bench/README):
# claimed_jobs() of 500 rows takes 0.5 ms with it, 1.3 ms without, ~14% of a SQLite claim.
make_job = fast_constructor(Job)

# A claim's rows, column by column, on every backend (claim_jobs in the .sql files): what the
# claim's update set alike for every row (status, locked_by, lease_token) is not read back;
# updated_at is when the claim took the task (started_at stays empty until a slot starts it). The
# payload comes in one of two columns: already parsed (SQLite embeds it in its read-back's
# JSON), or as JSON text to parse.
CLAIMED_COLUMNS = (
    "id",
    "job_name",
    "executor",
    "group_name",
    "payload_value",
    "payload",
    "priority",
    "attempts",
    "max_attempts",
    "run_at",
    "created_at",
    "updated_at",
    "locked_until",
    "error_message",
    "error_stack",
    "error_code",
    "failed_at",
    "timeout_seconds",
)


def claimed_jobs(rows: Iterable[Sequence[Any]], worker_id: str, lease_token: str) -> list[Job]:
    """The Jobs of a claim's rows (each in the order of CLAIMED_COLUMNS) for ``worker_id``
    under ``lease_token``: the same Jobs ``get_job`` reads back. A row another client wrote that
    cannot be read as a task comes as a Job whose payload is an :class:`Unreadable`."""
    seen: dict[Any, datetime | None] = {}  # the rows share most timestamps
    jobs = []
    for row in rows:
        try:  # one loop, no call per row: ~1 µs a row on the worker's hot path
            (
                job_id,
                name,
                executor,
                group,
                value,
                text,
                priority,
                attempts,
                max_attempts,
                run_at,
                created_at,
                updated_at,
                locked_until,
                message,
                stack,
                code,
                failed_at,
                timeout,
            ) = row
            if not (
                type(name) is type(executor) is str and type(priority) is type(attempts) is int
            ):
                raise TypeError("a column holds a value of the wrong type")
            if type(max_attempts) is not int or not (group is None or type(group) is str):
                raise TypeError("a column holds a value of the wrong type")
            jobs.append(
                make_job(
                    job_id,
                    name,
                    executor,
                    value if text is None else json.loads(text),
                    group,
                    JobStatus.EXECUTING,
                    priority,
                    attempts,
                    max_attempts,
                    to_utc_once(run_at, seen),
                    to_utc_once(created_at, seen),
                    to_utc_once(updated_at, seen),  # when the claim took it
                    None,  # started_at: written once it has run a while (worker.py)
                    worker_id,
                    to_utc_once(locked_until, seen),
                    lease_token,
                    message,
                    stack,
                    code,
                    to_utc_once(failed_at, seen),
                    None if timeout is None else float(timeout),
                )
            )
        except _UNREADABLE_ERRORS:  # another client wrote it: the worker fails it, unrun
            claimed = {**dict(zip(CLAIMED_COLUMNS, row, strict=True)), "status": "executing"}
            claimed["locked_by"], claimed["lease_token"] = worker_id, lease_token
            jobs.append(_tolerant_job(claimed, JobStatus.EXECUTING))
    return jobs


# -- rows another client wrote ----------------------------------------------------------------

_UNREADABLE_ERRORS = (ValueError, TypeError, RecursionError, UnicodeError, OverflowError)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """The payload of a Job whose row cannot be read as a task (a payload that is not JSON, a
    column of the wrong type, written by a DBA, an older client or another language): the
    worker marks such a task failed with ``code`` and never runs it."""

    column: str
    reason: str

    @property
    def code(self) -> str:
        return "BAD_PAYLOAD" if self.column == "payload" else "BAD_ROW"

    @property
    def message(self) -> str:
        return f"the task's {self.column} cannot be read: {self.reason}"


def _tolerant_job(row: Mapping[str, Any], status: JobStatus) -> Job:
    """A Job from a row some column of which cannot be read: what can be read is kept, the rest
    is left empty, and the payload is the first problem found (an :class:`Unreadable`)."""
    problems: list[Unreadable] = []

    def read(column: str, decode: Any, default: Any = None) -> Any:
        value = row.get(column)
        try:
            return None if value is None else decode(value)
        except _UNREADABLE_ERRORS as exc:
            problems.append(Unreadable(column, f"{_reason(exc)}; it holds {_sample(value)}"))
            return default

    job_id = int(row["id"])
    values = {
        "name": read("job_name", _text, "?"),
        "executor": read("executor", _text, "?"),
        "group": read("group_name", _text),
        "status": read("status", STATUSES.__getitem__, status),
        "priority": read("priority", _integer, 0),
        "attempts": read("attempts", _integer, 0),
        "max_attempts": read("max_attempts", _integer, 1),
        "run_at": read("run_at", to_utc),
        "created_at": read("created_at", to_utc),
        "updated_at": read("updated_at", to_utc),
        "started_at": read("started_at", to_utc),
        "locked_until": read("locked_until", to_utc),
        "failed_at": read("failed_at", to_utc),
        "timeout": read("timeout_seconds", float),
    }
    # A claim's row has the payload parsed already (payload_value) unless it is not JSON.
    text = row.get("payload")
    payload = read("payload", _payload) if text is not None else row.get("payload_value")
    return make_job(
        job_id,
        payload=problems[0] if problems else payload,
        locked_by=row.get("locked_by"),
        lease_token=row.get("lease_token"),
        error_message=row.get("error_message"),
        error_stack=row.get("error_stack"),
        error_code=row.get("error_code"),
        unique_key=row.get("unique_key"),
        **values,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not text but {type(value).__name__}")
    return value


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer but {type(value).__name__}")
    return value


def _payload(value: object) -> Any:
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        raise TypeError(f"not JSON text but {type(value).__name__}")
    return json.loads(value)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at character {exc.pos})"
    if isinstance(exc, RecursionError):
        return "nested too deeply to decode"
    return str(exc) or type(exc).__name__


def _sample(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class AttemptError:
    """The error of one failed attempt of a task (its history, oldest first)."""

    attempt: int
    message: str | None
    stack: str | None
    code: str | None
    worker_id: str | None
    failed_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AttemptError:
        return cls(
            attempt=int(row["attempt"]),
            message=row["error_message"],
            stack=row["error_stack"],
            code=row["error_code"],
            worker_id=row["worker_id"],
            failed_at=to_utc(row["failed_at"]),
        )


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker registered in ``queue_workers``."""

    id: str
    hostname: str
    pid: int
    concurrency: int
    groups: list[str] | None
    started_at: datetime | None
    last_heartbeat_at: datetime | None
    running: int = 0  # tasks it has run for 50 ms or more (their start is written)
    prefetched: int = 0  # the other tasks it holds: waiting in its buffer, or just begun

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkerInfo:
        groups = row.get("group_names")
        return cls(
            id=row["id"],
            hostname=row["hostname"],
            pid=int(row["pid"]),
            concurrency=int(row["concurrency"]),
            groups=json.loads(groups) if groups else None,
            started_at=to_utc(row["started_at"]),
            last_heartbeat_at=to_utc(row["last_heartbeat_at"]),
            running=int(row.get("running") or 0),
            prefetched=int(row.get("prefetched") or 0),
        )


@dataclass(frozen=True, slots=True)
class RetryResult:
    """The result of a bulk retry: which ids went back to waiting and which did not."""

    success: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FingerprintStats:
    """The failed tasks of one fingerprint (one kind of failure: the same code, message shape
    and failing line), with where they failed; each dict biggest first. ``fingerprint`` None:
    failures recorded before fingerprints that have none yet."""

    fingerprint: str | None
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    sample_message: str | None
    executors: dict[str, int]
    groups: dict[str | None, int]
    codes: dict[str | None, int]


KEPT_COUNTS = "kept counts"  # FailedTasksStats.counted_from: read from queue_failure_counts
ROWS = "rows"  # counted from the matching failed tasks (a filter the kept counts cannot answer)


@dataclass(frozen=True, slots=True)
class FailedTasksStats:
    """Counts of failed tasks: in all, by executor, by group (None: tasks without group), by
    error code (None: no code) and by fingerprint (biggest first); ``counted_from`` says
    whether they were read from the kept counts or counted from the failed rows."""

    total: int
    by_executor: dict[str, int]
    by_group: dict[str | None, int]
    by_code: dict[str | None, int] = field(default_factory=dict)
    by_fingerprint: list[FingerprintStats] = field(default_factory=list)
    counted_from: str = KEPT_COUNTS


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group: whether it is paused, and how many of its tasks are in each status; why and
    until when it is paused, its limits, and its circuit breaker (docs/groups.md). None: not
    set."""

    name: str
    paused: bool
    counts: dict[str, int]
    reason: str | None = None  # the pause's reason ('breaker': the breaker paused it)
    until: datetime | None = None  # when the pause ends by itself (aware UTC)
    concurrency: int | None = None
    rate: str | None = None  # e.g. '100/m'
    breaker_state: str | None = None  # 'closed', 'open' or 'probing'; None: no breaker
    breaker_threshold: float | None = None
    breaker_min_tasks: int | None = None
    breaker_window: float | None = None  # seconds
    breaker_cooldown: float | None = None  # seconds
    probe_task_id: int | None = None  # the task a probing breaker let through


@dataclass(frozen=True, slots=True)
class QueueStats:
    """An overview for monitoring."""

    counts: dict[str, int]  # queue_jobs per status
    succeeded_last_hour: int
    oldest_waiting_seconds: float | None  # age of the oldest runnable task (None: none waits)
    running: int = 0  # executing tasks that have run for 50 ms or more (their start is written)
    prefetched: int = 0  # the other executing ones: in a worker's buffer, or just begun
