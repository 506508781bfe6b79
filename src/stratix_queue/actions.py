"""Operator actions on tasks by id, each audited in its own transaction (action_ops.py):
retry (with a fixed payload, if given), discard, cancel, payload edits; and what is kept about
a task (its history) and about the actions (the audit).

Where removed tasks live: a discarded (failed) or cancelled (waiting, delayed, paused) task
leaves ``queue_jobs`` for ``queue_removed``, its row as it was (payload, attempts, last error)
with ``outcome``, ``removed_at``, ``removed_by`` and ``reason``; the worker's maintenance prunes
those rows after a retention period (30 days by default). An executing task is never cancelled:
its worker holds it, and the result says so.

Who acted: the ``actor`` the caller names, by default the OS user running the process
(``getpass.getuser()``), as the CLI's ``--actor`` does.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from stratix_queue.backends.action_args import Audit
from stratix_queue.backends.driver import Driver
from stratix_queue.backends.session import Row
from stratix_queue.errors import InvalidInputError
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.job import AttemptError
from stratix_queue.records import ActionResult, AuditEntry, PayloadVersion, RemovedTask, TaskHistory
from stratix_queue.validation import check_name, check_page, check_task_id, in_id_range

log = logging.getLogger("stratix_queue.actions")

MAX_REASON = 10_000
NOT_FOUND = "not found"
WHY_NOT_CANCELLED = {
    "executing": "executing: cannot be cancelled (a worker is running it)",
    "failed": "failed: discard it instead",
}


def who(actor: str | None) -> str:
    """The actor's name: given, else the OS user."""
    if actor is None:
        try:
            actor = getpass.getuser()
        except Exception:  # no user name in the environment nor the password database
            actor = "unknown"
    return str(check_name(actor, "actor"))


def check_reason(reason: object) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON or "\x00" in reason:
        raise InvalidInputError(f"reason must be text of at most {MAX_REASON} characters")
    return reason


def audit(action: str, actor: str | None, reason: object, target: str | None = None) -> Audit:
    return Audit(who(actor), action, target, check_reason(reason))


def task_ids(values: object, what: str) -> list[int]:
    """A list of task ids, checked; those no task can have left out (they come back as not
    found)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInputError(f"{what} takes a list of task ids")
    return [check_task_id(value) for value in values]


def discard(backend: Driver, ids: Sequence[int], entry: Audit) -> ActionResult:
    rows = backend.discard_tasks([i for i in ids if in_id_range(i)], entry)
    _log(rows, "failed task discarded", entry)
    gone = {int(row["id"]) for row in rows}
    return ActionResult(
        done=[i for i in dict.fromkeys(ids) if i in gone],
        not_done={i: _why_not_failed(backend, i) for i in dict.fromkeys(ids) if i not in gone},
    )


def cancel(backend: Driver, ids: Sequence[int], entry: Audit) -> ActionResult:
    rows = backend.cancel_tasks([i for i in ids if in_id_range(i)], entry)
    status = {int(row["id"]): str(row["status"]) for row in rows}
    cancelled = [row for row in rows if row["status"] not in WHY_NOT_CANCELLED]
    _log(cancelled, "task cancelled", entry)
    result = ActionResult()
    for task_id in dict.fromkeys(ids):
        if task_id not in status:
            result.not_done[task_id] = NOT_FOUND
        elif status[task_id] in WHY_NOT_CANCELLED:
            result.not_done[task_id] = WHY_NOT_CANCELLED[status[task_id]]
        else:
            result.done.append(task_id)
    return result


def edit_payload(backend: Driver, task_id: int, payload_json: str, entry: Audit) -> None:
    """Replace the payload of a task that is not executing; InvalidInputError otherwise."""
    status = backend.edit_payload(task_id, payload_json, entry) if in_id_range(task_id) else None
    if status is None:
        raise InvalidInputError(f"task #{task_id} not found")
    if status == "executing":
        raise InvalidInputError(f"task #{task_id} is executing: its payload cannot change now")
    log.info("task payload replaced: id=%s actor=%s", task_id, entry.actor)


def history(backend: Driver, task_id: int) -> TaskHistory:
    if not in_id_range(task_id):
        return TaskHistory(None, None, [], [], [])
    removed = backend.removed_task(task_id)
    return TaskHistory(
        task=backend.get_job(task_id),
        removed=None if removed is None else RemovedTask.from_row(removed),
        attempt_errors=[AttemptError.from_row(r) for r in backend.list_attempt_errors(task_id)],
        payloads=[PayloadVersion.from_row(r) for r in backend.payload_history(task_id)],
        audit=[AuditEntry.from_row(r) for r in backend.audit_of_task(task_id)],
    )


def audit_log(
    backend: Driver, limit: int, since: Any, action: str | None, actor: str | None
) -> list[AuditEntry]:
    limit, _ = check_page(limit, 0)
    # A time as the failure filter takes it: a datetime, ISO text or a duration ago ('2h').
    moment: datetime | None = FailureFilter.build(since=since).since
    rows = backend.list_audit(
        limit,
        moment,
        check_name(action, "action", optional=True),
        check_name(actor, "actor", optional=True),
    )
    return [AuditEntry.from_row(row) for row in rows]


def _why_not_failed(backend: Driver, task_id: int) -> str:
    job = backend.get_job(task_id) if in_id_range(task_id) else None
    return NOT_FOUND if job is None else f"not failed ({job.status.value})"


def _log(rows: Iterable[Row], what: str, entry: Audit) -> None:
    for row in rows:
        log.info(
            "%s: id=%s name=%s executor=%s actor=%s",
            what,
            row["id"],
            row["job_name"],
            row["executor"],
            entry.actor,
        )
