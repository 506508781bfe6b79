"""The parameter types of the operator actions (action_ops.py): who acts and why (Audit), a
new bulk plan (NewPlan), and what one batch of a plan did (PlanBatch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stratix_queue.backends.session import Row

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter

# An audit row names at most this many ids (the count column holds how many there were), so
# that a bulk action by ids does not write its whole list into the audit.
AUDIT_IDS = 50


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit row an action writes in its own transaction: ``target`` None means the ids
    asked for (``ids_target``); ``count`` is filled in with how many it acted on."""

    actor: str
    action: str
    target: str | None = None
    reason: str | None = None
    plan_id: int | None = None

    def params(self, count: int, ids: Sequence[int] = ()) -> dict[str, object]:
        target = self.target if self.target is not None else ids_target(ids)
        return {
            "actor": self.actor,
            "action": self.action,
            "target": target,
            "count": count,
            "reason": self.reason,
            "plan_id": self.plan_id,
        }


def ids_target(ids: Sequence[int]) -> str:
    """Ids as an audit target: a JSON list, or beyond AUDIT_IDS the first ones and the total
    (``{"first": [...], "total": n}``; 'total' last, so that an id pattern never matches it)."""
    if len(ids) <= AUDIT_IDS:
        return json.dumps(list(ids))
    return json.dumps({"first": list(ids[:AUDIT_IDS]), "total": len(ids)})


def id_patterns(task_id: int) -> dict[str, str]:
    """LIKE patterns that find ``task_id`` in an ids_target (audit_of_task)."""
    return {
        "alone": f"%[{task_id}]%",
        "head": f"%[{task_id},%",
        "inner": f"% {task_id},%",
        "tail": f"% {task_id}]%",
    }


@dataclass(frozen=True, slots=True)
class NewPlan:
    """A bulk retry or discard of the failed tasks a filter matches."""

    action: str  # PLAN_ACTIONS
    failures: FailureFilter
    command: str  # the CLI line that makes the same plan
    rate: float | None  # tasks per second (None: as fast as the batches go)
    batch_size: int
    actor: str
    reason: str | None


PLAN_ACTIONS = ("retry", "discard")
OPEN_PLAN = ("planned", "running", "paused")


@dataclass(frozen=True, slots=True)
class PlanBatch:
    """One batch of a plan: the plan row after it (None: no such plan), the tasks acted on
    (rows with id, job_name, executor) and the ids skipped (no longer failed, or gone)."""

    plan: Row | None
    acted: list[Row] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    last_id: int = 0
