"""What the operator actions return and read back: an action's result per id, an audit row, a
payload version, a removed task, a task's history, and bulk plans with their dry runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stratix_queue.clock import to_utc
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.job import AttemptError, Job


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Which ids an action (discard, cancel) took, and why it left the others (id -> reason:
    'not failed', 'executing: cannot be cancelled', 'not found', ...)."""

    done: list[int] = field(default_factory=list)
    not_done: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operator action: when, who, what (a filter's CLI line, a group, or ids as JSON: at
    most the first 50 with the total), how many tasks it touched, why, and its plan."""

    id: int
    at: datetime | None
    actor: str
    action: str
    target: str | None
    count: int
    reason: str | None
    plan_id: int | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AuditEntry:
        plan_id = row["plan_id"]
        return cls(
            id=int(row["id"]),
            at=to_utc(row["at"]),
            actor=row["actor"],
            action=row["action"],
            target=row["target"],
            count=int(row["count"]),
            reason=row["reason"],
            plan_id=None if plan_id is None else int(plan_id),
        )


@dataclass(frozen=True, slots=True)
class PayloadVersion:
    """A payload an operator replaced: what it was, when, by whom and why."""

    payload: Any
    replaced_at: datetime | None
    replaced_by: str
    reason: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PayloadVersion:
        return cls(
            payload=stored_value(row["payload"]),
            replaced_at=to_utc(row["replaced_at"]),
            replaced_by=row["replaced_by"],
            reason=row["reason"],
        )


@dataclass(frozen=True, slots=True)
class RemovedTask:
    """A discarded or cancelled task as it was when removed (kept in queue_removed)."""

    id: int
    name: str
    executor: str
    group: str | None
    payload: Any
    status: str  # before it was removed
    outcome: str  # discarded | cancelled
    attempts: int
    error_message: str | None
    error_code: str | None
    failed_at: datetime | None
    removed_at: datetime | None
    removed_by: str
    reason: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RemovedTask:
        return cls(
            id=int(row["id"]),
            name=row["job_name"],
            executor=row["executor"],
            group=row["group_name"],
            payload=stored_value(row["payload"]),
            status=row["status"],
            outcome=row["outcome"],
            attempts=int(row["attempts"]),
            error_message=row["error_message"],
            error_code=row["error_code"],
            failed_at=to_utc(row["failed_at"]),
            removed_at=to_utc(row["removed_at"]),
            removed_by=row["removed_by"],
            reason=row["reason"],
        )


@dataclass(frozen=True, slots=True)
class TaskHistory:
    """Everything kept about a task beside its row: the task (None once it left queue_jobs),
    its row in queue_removed if it was discarded or cancelled, the error of each failed
    attempt, the payloads operators replaced (oldest first; the current one is the task's),
    and the audit rows that name it (by id, or through a plan that held it)."""

    task: Job | None
    removed: RemovedTask | None
    attempt_errors: list[AttemptError]
    payloads: list[PayloadVersion]
    audit: list[AuditEntry]


@dataclass(frozen=True, slots=True)
class Plan:
    """A bulk retry or discard: the filter, the tasks it matched once (total), and progress.
    ``pending`` = total - done - skipped."""

    id: int
    action: str
    failures: FailureFilter
    command: str
    status: str  # planned | running | paused | done | aborted
    total: int
    done: int
    skipped: int
    rate: float | None
    batch_size: int
    actor: str
    reason: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def pending(self) -> int:
        return self.total - self.done - self.skipped

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Plan:
        rate = row["rate"]
        return cls(
            id=int(row["id"]),
            action=row["action"],
            failures=FailureFilter.from_json(row["filter"]),
            command=row["command"],
            status=row["status"],
            total=int(row["total"]),
            done=int(row["done"]),
            skipped=int(row["skipped"]),
            rate=None if rate is None else float(rate),
            batch_size=int(row["batch_size"]),
            actor=row["actor"],
            reason=row["reason"],
            created_at=to_utc(row["created_at"]),
            updated_at=to_utc(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class Conflict:
    """Matching tasks a bulk action would not treat as asked: why, how many, and where
    (group names, or plans as '#id')."""

    reason: str
    count: int
    names: list[str]


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a bulk action would do, changing nothing: how many failed tasks match, a sample of
    them (newest failure first), the conflicts, and the command that runs it."""

    action: str
    count: int
    sample: list[Job]
    conflicts: list[Conflict]
    command: str


def stored_value(value: Any) -> Any:
    """Stored JSON text as a value; text that is not JSON (another client wrote it) as text."""
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
