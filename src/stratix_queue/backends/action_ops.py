""":class:`ActionOps`: the operator actions on tasks (retry with a new payload, discard,
cancel, payload edits) and the bulk plans, over the named queries of each database's
``actions.sql``.

Each action is one transaction per chunk of ids: it locks the rows it acts on (lock_failed or
lock_tasks), so two operators, or an operator and a worker, never both act on one task; it
keeps the failure ledger's counts and the rollups in step; and it writes its audit row. A crash
at any point leaves either all of that or none of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from stratix_queue.backends.ledger_core import LedgerCore
from stratix_queue.backends.session import Row, Session
from stratix_queue.job import Job

if TYPE_CHECKING:
    from stratix_queue.backends.action_args import Audit, NewPlan, PlanBatch
    from stratix_queue.failure_filter import FailureFilter

ID_CHUNK = 500
CANCELLABLE = ("waiting", "delayed", "paused")
EDITABLE = ("failed", *CANCELLABLE)
DISCARDED, CANCELLED = "discarded", "cancelled"


class ActionOps(LedgerCore):
    """Operator actions and plans; SqlDriver inherits them."""

    # -- by ids ---------------------------------------------------------------------------------

    def retry_tasks(
        self, ids: Sequence[int], audit: Audit, payload_json: str | None = None
    ) -> list[Row]:
        """Failed tasks back to waiting (or paused), audited; with ``payload_json`` (one task)
        their payload replaced too, the old one kept in queue_payload_history. The rows reset
        (id, job_name, executor); a task whose unique key another task holds is not."""

        def body(session: Session, chunk: list[int]) -> list[Row]:
            rows = self._run(session, "lock_failed", {"ids": chunk}).rows
            reset = self._reset_locked(session, rows)  # those whose unique key is held stay
            if payload_json is not None:
                for row in reset:
                    self._replace_payload(session, int(row["id"]), payload_json, audit)
            self._audit(session, audit, chunk, len(reset))
            return reset

        return self._chunked(ids, body)

    def discard_tasks(self, ids: Sequence[int], audit: Audit) -> list[Row]:
        """Failed tasks leave queue_jobs for queue_removed (outcome discarded, last error
        kept), audited; the rows discarded."""

        def body(session: Session, chunk: list[int]) -> list[Row]:
            rows = self._run(session, "lock_failed", {"ids": chunk}).rows
            self._remove(session, rows, DISCARDED, audit)
            self._uncount_failures(session, rows)
            self._audit(session, audit, chunk, len(rows))
            return rows

        return self._chunked(ids, body)

    def cancel_tasks(self, ids: Sequence[int], audit: Audit) -> list[Row]:
        """Waiting, delayed and paused tasks leave queue_jobs for queue_removed (outcome
        cancelled), counted in the rollups, audited. Every task found comes back (id, status
        as it was): those of another status were left as they are."""

        def body(session: Session, chunk: list[int]) -> list[Row]:
            rows = self._run(session, "lock_tasks", {"ids": chunk}).rows
            cancelled = [row for row in rows if row["status"] in CANCELLABLE]
            self._remove(session, cancelled, CANCELLED, audit)
            where = [(row["executor"], row["group_name"]) for row in cancelled]
            self._rollup_outcomes(session, where, CANCELLED)
            self._audit(session, audit, chunk, len(cancelled))
            return rows

        return self._chunked(ids, body)

    def edit_payload(self, job_id: int, payload_json: str, audit: Audit) -> str | None:
        """Replace the payload of a task that is not executing, the old one kept in
        queue_payload_history, audited. The task's status (None: no such task); the payload
        changed only if that status is failed, waiting, delayed or paused."""

        def body(session: Session) -> str | None:
            rows = self._run(session, "lock_tasks", {"ids": [job_id]}).rows
            if not rows:
                return None
            status = str(rows[0]["status"])
            if status in EDITABLE:
                self._replace_payload(session, job_id, payload_json, audit)
                self._audit(session, audit, [job_id], 1)
            return status

        return self._transaction(body)

    def _chunked(self, ids: Sequence[int], body: Callable[..., list[Row]]) -> list[Row]:
        """``body`` once per chunk of ids, each chunk a transaction (and an audit row)."""
        done: list[Row] = []
        for start in range(0, len(ids), ID_CHUNK):
            chunk = sorted(set(ids[start : start + ID_CHUNK]))  # rows locked in id order
            done.extend(self._transaction(partial(body, chunk=chunk)))
        return done

    def _replace_payload(self, session: Session, job_id: int, payload: str, audit: Audit) -> None:
        params = {"id": job_id, "actor": audit.actor, "reason": audit.reason}
        self._run(session, "save_payload", params)
        self._run(session, "set_payload", {"id": job_id, "payload": payload})

    def _remove(self, session: Session, rows: Sequence[Row], outcome: str, audit: Audit) -> None:
        """Locked rows copied to queue_removed, then deleted."""
        ids = _ids(rows)
        params = {"ids": ids, "outcome": outcome, "actor": audit.actor, "reason": audit.reason}
        self._run(session, "copy_to_removed", params)
        self._run(session, "delete_removed", {"ids": ids})

    def _audit(self, session: Session, audit: Audit, ids: Sequence[int], count: int) -> None:
        """The action's audit row: the ids asked for (a chunk) as target, unless it has one,
        and how many tasks it acted on."""
        self._run(session, "insert_audit", audit.params(count, ids))

    # -- reading --------------------------------------------------------------------------------

    def removed_task(self, job_id: int) -> Row | None:
        rows = self._read("removed_task", {"id": job_id})
        return rows[0] if rows else None

    def payload_history(self, job_id: int) -> list[Row]:
        return self._read("payload_history", {"id": job_id})

    def audit_of_task(self, job_id: int) -> list[Row]:
        from stratix_queue.backends.action_args import id_patterns

        return self._read("audit_of_task", {"id": job_id, **id_patterns(job_id)})

    def list_audit(
        self, limit: int, since: datetime | None, action: str | None, actor: str | None
    ) -> list[Row]:
        params = {"limit": limit, "since": since, "action": action, "actor": actor}
        return self._read("list_audit", params)

    def failed_sample(self, failures: FailureFilter, limit: int) -> list[Job]:
        params = {"filter": self._failed_filter(failures), "limit": limit}
        return [Job.from_row(row) for row in self._read("failed_sample", params)]

    def failed_conflicts(self, failures: FailureFilter) -> tuple[list[Row], list[Row]]:
        """Matching failed tasks per paused group (group_name, count), and per unfinished plan
        that holds them (plan_id, action, count)."""
        params = {"filter": self._failed_filter(failures)}
        return self._read("failed_in_paused_groups", params), self._read(
            "failed_in_open_plans", params
        )

    def failed_unique_held(self, failures: FailureFilter) -> list[Row]:
        """Matching failed tasks whose unique key a retry would make them hold (id, unique_key,
        holder: the task holding it now, or None), in id order."""
        return self._read("failed_unique_held", {"filter": self._failed_filter(failures)})

    # -- plans ----------------------------------------------------------------------------------

    def create_plan(self, plan: NewPlan, audit: Audit) -> int:
        """A plan with the matching failed tasks' ids snapshotted once, audited; its id."""

        def body(session: Session) -> int:
            params = {
                "action": plan.action,
                "filter_json": plan.failures.to_json(),
                "command": plan.command,
                "rate": plan.rate,
                "batch_size": plan.batch_size,
                "actor": plan.actor,
                "reason": plan.reason,
            }
            plan_id = int(self._run(session, "insert_plan", params).rows[0]["id"])
            snapshot = {"plan_id": plan_id, "filter": self._failed_filter(plan.failures)}
            total = self._run(session, "snapshot_plan_items", snapshot).rowcount
            self._run(session, "set_plan_total", {"plan_id": plan_id, "total": total})
            self._audit(session, _for_plan(audit, plan_id), (), total)
            return plan_id

        return self._transaction(body)

    def change_plan(
        self,
        plan_id: int,
        allowed: Sequence[str],
        status: str,
        audit: Callable[[Row], Audit],
    ) -> Row | None:
        """Set the plan's status if it is one of ``allowed`` (audited: ``audit`` of the plan row
        as it was). The row as it was (None: no such plan), changed or not."""

        def body(session: Session) -> Row | None:
            rows = self._run(session, "lock_plan", {"plan_id": plan_id}).rows
            if rows and rows[0]["status"] in allowed:
                self._advance(session, plan_id, status)
                self._audit(session, _for_plan(audit(rows[0]), plan_id), (), 0)
            return rows[0] if rows else None

        return self._transaction(body)

    def plan_batch(self, plan_id: int, after: int, limit: int) -> PlanBatch:
        """The next batch of a running plan, in one transaction under the plan's lock: its
        pending items after ``after`` acted on if their task is still failed (done), skipped
        otherwise; the plan is done once none is left. A plan not running is left alone."""
        from stratix_queue.backends.action_args import PlanBatch

        def body(session: Session) -> PlanBatch:
            rows = self._run(session, "lock_plan", {"plan_id": plan_id}).rows
            if not rows or rows[0]["status"] != "running":
                return PlanBatch(rows[0] if rows else None, last_id=after)
            plan = rows[0]
            params = {"plan_id": plan_id, "after": after, "limit": limit}
            items = [
                int(row["job_id"]) for row in self._run(session, "pending_plan_items", params).rows
            ]
            acted = self._act(session, plan, items) if items else []
            skipped = sorted(set(items) - set(_ids(acted)))
            self._mark(session, plan_id, _ids(acted), "done")
            self._mark(session, plan_id, skipped, "skipped")
            finished = len(items) < limit  # nothing pending after these, nor before them
            self._advance(session, plan_id, "done" if finished else "running", acted, skipped)
            if finished:
                done = int(plan["done"]) + len(acted)
                self._audit(session, _plan_audit(plan, "plan_done"), (), done)
            after_batch = self._run(session, "get_plan", {"plan_id": plan_id}).rows[0]
            return PlanBatch(after_batch, acted, skipped, items[-1] if items else after)

        return self._transaction(body)

    def _act(self, session: Session, plan: Row, items: list[int]) -> list[Row]:
        """The plan's action on those of ``items`` still failed; their rows."""
        from stratix_queue.backends.action_args import Audit

        rows = self._run(session, "lock_failed", {"ids": items}).rows
        if not rows:
            return rows
        if plan["action"] == "retry":
            return self._reset_locked(session, rows)
        who = Audit(actor=plan["actor"], action="discard", reason=plan["reason"])
        self._remove(session, rows, DISCARDED, who)
        self._uncount_failures(session, rows)
        return rows

    def _mark(self, session: Session, plan_id: int, ids: list[int], state: str) -> None:
        self._run(session, "mark_plan_items", {"plan_id": plan_id, "ids": ids, "state": state})

    def _advance(
        self,
        session: Session,
        plan_id: int,
        status: str,
        acted: Sequence[Row] = (),
        skipped: Sequence[int] = (),
    ) -> None:
        params = {"plan_id": plan_id, "status": status, "done": len(acted), "skipped": len(skipped)}
        self._run(session, "advance_plan", params)

    def get_plan(self, plan_id: int) -> Row | None:
        rows = self._read("get_plan", {"plan_id": plan_id})
        return rows[0] if rows else None

    def list_plans(self, limit: int) -> list[Row]:
        return self._read("list_plans", {"limit": limit})

    def plan_item_ids(self, plan_id: int, state: str, limit: int) -> list[int]:
        params = {"plan_id": plan_id, "state": state, "limit": limit}
        return [int(row["job_id"]) for row in self._read("plan_item_ids", params)]


def _ids(rows: Sequence[Row]) -> list[int]:
    return [int(row["id"]) for row in rows]


def _for_plan(audit: Audit, plan_id: int) -> Audit:
    from stratix_queue.backends.action_args import Audit

    return Audit(audit.actor, audit.action, audit.target, audit.reason, plan_id)


def _plan_audit(plan: Row, action: str) -> Audit:
    """An audit row the plan writes itself (done): its creator's name and reason."""
    from stratix_queue.backends.action_args import Audit

    return Audit(plan["actor"], action, plan["command"], plan["reason"], int(plan["id"]))
