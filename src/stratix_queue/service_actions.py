"""QueueService's operator actions: discard, cancel, payload edits, plans and the audit
(actions.py, plans.py).

The modules these methods use are imported in them: a worker process, which imports
QueueService, never loads them (their import time was a measurable part of a short drain)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.driver import Driver
from stratix_queue.repository import JobRepository
from stratix_queue.validation import (
    check_page,
    check_task_id,
    encode_payload,
)

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter

if TYPE_CHECKING:
    from stratix_queue.records import ActionResult, AuditEntry, DryRun, Plan, TaskHistory


class OperatorActions:
    """Operator actions, each audited."""

    backend: Driver
    repository: JobRepository
    max_payload_bytes: int
    _encoder: json.JSONEncoder
    _wakeup: threading.Event

    # -- operator actions: discard, cancel, payload edits, plans, audit (actions.py, plans.py) --
    # Each is audited in its own transaction as ``actor`` (default: the OS user), with
    # ``reason``.

    def discard_failed_tasks(
        self, task_ids: Sequence[int], *, actor: str | None = None, reason: str | None = None
    ) -> ActionResult:
        """Failed tasks leave the queue for ``queue_removed`` (outcome discarded, their last
        error kept; pruned after the retention period, 30 days by default). ``.done`` were
        discarded, ``.not_done`` maps the others to why (not failed, not found)."""
        from stratix_queue import actions

        ids = actions.task_ids(task_ids, "discard_failed_tasks")
        return actions.discard(self.backend, ids, actions.audit("discard", actor, reason))

    def cancel_tasks(
        self, task_ids: Sequence[int], *, actor: str | None = None, reason: str | None = None
    ) -> ActionResult:
        """Waiting, delayed and paused tasks leave the queue for ``queue_removed`` (outcome
        cancelled; pruned after the retention period, 30 days by default), counted in the
        rollups. An executing task is not cancelled: ``.not_done`` says so, as for a failed
        task (discard it) or an id not found."""
        from stratix_queue import actions

        ids = actions.task_ids(task_ids, "cancel_tasks")
        return actions.cancel(self.backend, ids, actions.audit("cancel", actor, reason))

    def edit_payload(
        self, task_id: int, payload: Any, *, actor: str | None = None, reason: str | None = None
    ) -> None:
        """Replace the payload of a failed, waiting, delayed or paused task without retrying it
        (checked as add_task checks it); the old one joins its history. InvalidInputError for
        an executing task or one not found."""
        from stratix_queue import actions

        check_task_id(task_id)
        payload_json = encode_payload(payload, self.max_payload_bytes, self._encoder)
        entry = actions.audit("edit_payload", actor, reason)
        actions.edit_payload(self.backend, task_id, payload_json, entry)

    def get_task_history(self, task_id: int) -> TaskHistory:
        """A task's attempt errors, the payloads operators replaced, its removal (discarded or
        cancelled) and the audit rows naming it (records.TaskHistory)."""
        from stratix_queue import actions

        return actions.history(self.backend, check_task_id(task_id))

    def list_audit(
        self,
        limit: int = 100,
        since: datetime | str | float | None = None,
        action: str | None = None,
        actor: str | None = None,
    ) -> list[AuditEntry]:
        """Operator actions, newest first; ``since``: a time or a duration ago ('2h')."""
        from stratix_queue import actions

        return actions.audit_log(self.backend, limit, since, action, actor)

    def dry_run(self, action: str, failures: FailureFilter | None = None) -> DryRun:
        """What a bulk ``retry`` or ``discard`` of the matching failed tasks would do: their
        count, a sample, and conflicts (a retry into a paused group, tasks already pending in
        an unfinished plan). Changes nothing."""
        from stratix_queue import plans
        from stratix_queue.failure_filter import FailureFilter

        return plans.dry_run(self.backend, plans.check_action(action), failures or FailureFilter())

    def create_plan(
        self,
        action: str,
        failures: FailureFilter | None = None,
        rate: float | None = None,
        batch_size: int = 500,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Plan:
        """A durable bulk ``retry`` or ``discard`` of the failed tasks matching now (their ids
        kept as the plan's items); run it with ``run_plan``. ``rate``: tasks per second."""
        from stratix_queue import actions, plans
        from stratix_queue.failure_filter import FailureFilter

        entry = actions.audit("plan_create", actor, reason)
        failures = failures or FailureFilter()
        return plans.create(
            self.backend, plans.check_action(action), failures, rate, batch_size, entry
        )

    def run_plan(
        self,
        plan_id: int,
        progress: Callable[[Plan], None] | None = None,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Plan:
        """Run a plan until it is done, paused or aborted; ``progress`` gets the plan after
        each batch. A paused plan, or one whose runner died while running, continues: the
        items done or skipped stay so, the pending ones are taken in order."""
        from stratix_queue import actions, plans

        entry = actions.audit("plan_resume", actor, reason)  # plan_start for a new plan
        plans.change(self.backend, plan_id, plans.RESUMABLE, "running", entry)
        return self._run_plan(plan_id, progress)

    resume_plan = run_plan  # the name the CLI's `plans resume` reads as

    def _run_plan(self, plan_id: int, progress: Callable[[Plan], None] | None) -> Plan:
        from stratix_queue import plans

        plan = plans.PlanRunner(self.backend).run(plan_id, progress)
        if plan.action == "retry" and plan.done:
            self._wakeup.set()
        return plan

    def pause_plan(
        self, plan_id: int, *, actor: str | None = None, reason: str | None = None
    ) -> Plan:
        """Stop a plan after the batch in flight; ``resume_plan`` continues it."""
        from stratix_queue import actions, plans

        entry = actions.audit("plan_pause", actor, reason)
        return plans.change(self.backend, plan_id, plans.PAUSABLE, "paused", entry)

    def abort_plan(
        self, plan_id: int, *, actor: str | None = None, reason: str | None = None
    ) -> Plan:
        """End an unfinished plan for good after the batch in flight; its pending items stay
        pending (the tasks stay failed)."""
        from stratix_queue import actions, plans

        entry = actions.audit("plan_abort", actor, reason)
        return plans.change(self.backend, plan_id, plans.RESUMABLE, "aborted", entry)

    def get_plan(self, plan_id: int) -> Plan:
        """A plan with its progress; PlanError if there is none."""
        from stratix_queue import plans

        return plans.get(self.backend, plan_id)

    def list_plans(self, limit: int = 50) -> list[Plan]:
        """Plans, newest first."""
        from stratix_queue.records import Plan

        limit, _ = check_page(limit, 0)
        return [Plan.from_row(row) for row in self.backend.list_plans(limit)]

    def plan_skipped_ids(self, plan_id: int, limit: int = 1000) -> list[int]:
        """Ids of a plan's tasks that were skipped (no longer failed, or gone when their batch
        came), in id order."""
        from stratix_queue import plans

        limit, _ = check_page(limit, 0)
        return self.backend.plan_item_ids(plans.get(self.backend, plan_id).id, "skipped", limit)
