"""Bulk retries and discards as durable plans.

``create`` matches the failed tasks once (their ids become the plan's items, in one INSERT ...
SELECT) and ``PlanRunner.run`` works through them in batches. Each batch is one transaction
under the plan row's lock: it takes the next pending items, acts on those still failed, marks
them done and the others skipped, and counts both on the plan. So a runner killed at any
point leaves each item either done (with its task acted on) or pending, and a resumed runner
(or a second one) redoes nothing and skips nothing: a task is retried at most once per plan.
Pausing or aborting a plan is a status change the runner reads at every batch. Every status
change is audited with the plan's CLI line as target.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from stratix_queue.backends.action_args import OPEN_PLAN, PLAN_ACTIONS, Audit, NewPlan
from stratix_queue.backends.driver import Driver
from stratix_queue.backends.session import Row
from stratix_queue.errors import InvalidInputError, PlanError
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.records import Conflict, DryRun, Plan
from stratix_queue.repository import log_reset
from stratix_queue.validation import check_int

SAMPLE = 10
MAX_BATCH = 10_000
Progress = Callable[[Plan], None]
RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*$")


def parse_rate(text: str) -> float:
    """'100/s', '600/m', '100' (per second) as tasks per second."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise InvalidInputError(f"rate must be like 100/s, 600/m or 5000/h, not {text!r}")
    return float(match.group(1)) / RATE_UNITS[match.group(2) or "s"]


def command_of(action: str, failures: FailureFilter) -> str:
    return failures.cli_line(f"failed {action} --all")


def check_action(action: object) -> str:
    if action not in PLAN_ACTIONS:
        raise InvalidInputError(f"action must be one of {', '.join(PLAN_ACTIONS)}, not {action!r}")
    return str(action)


def dry_run(backend: Driver, action: str, failures: FailureFilter) -> DryRun:
    """What ``action`` on the matching failed tasks would do; nothing changes."""
    in_paused, in_plans = backend.failed_conflicts(failures)
    conflicts = []
    if action == "retry" and in_paused:
        conflicts.append(
            Conflict(
                "in a paused group: a retry makes them paused, not waiting",
                sum(int(row["count"]) for row in in_paused),
                [str(row["group_name"]) for row in in_paused],
            )
        )
    if action == "retry":
        conflicts.extend(unique_conflicts(backend.failed_unique_held(failures)))
    if in_plans:
        conflicts.append(
            Conflict(
                "pending in an unfinished plan already: the first to reach them acts",
                sum(int(row["count"]) for row in in_plans),
                [f"#{row['plan_id']} ({row['action']})" for row in in_plans],
            )
        )
    return DryRun(
        action=action,
        count=backend.count_failed(failures),
        sample=backend.failed_sample(failures, SAMPLE),
        conflicts=conflicts,
        command=command_of(action, failures),
    )


def unique_conflicts(rows: list[Row]) -> list[Conflict]:
    """The tasks a retry would leave failed because another task holds their unique key: one
    held now, or one an earlier task of the same retry takes (docs/unique_tasks.md)."""
    taken: dict[str, int] = {}
    names: list[str] = []
    for row in rows:
        key, holder = str(row["unique_key"]), row["holder"]
        if holder is None and key not in taken:
            taken[key] = int(row["id"])  # retried: it holds the key from then on
            continue
        by = int(holder) if holder is not None else taken[key]
        names.append(f"#{row['id']}: its unique key is held by task {by}")
    if not names:
        return []
    reason = "with a unique key another task holds: a retry leaves them failed"
    shown = names[:SAMPLE] + ([f"... {len(names) - SAMPLE} more"] if len(names) > SAMPLE else [])
    return [Conflict(reason, len(names), shown)]


def create(
    backend: Driver,
    action: str,
    failures: FailureFilter,
    rate: float | None,
    batch_size: int,
    entry: Audit,
) -> Plan:
    if rate is not None and (not isinstance(rate, int | float) or not 0 < rate < math.inf):
        raise InvalidInputError("rate must be a positive number of tasks per second")
    plan = NewPlan(
        action=action,
        failures=failures,
        command=command_of(action, failures),
        rate=None if rate is None else float(rate),
        batch_size=check_int(batch_size, "batch_size", 1, MAX_BATCH),
        actor=entry.actor,
        reason=entry.reason,
    )
    audited = Audit(entry.actor, "plan_create", plan.command, entry.reason)
    return get(backend, backend.create_plan(plan, audited))


def get(backend: Driver, plan_id: int) -> Plan:
    row = backend.get_plan(check_int(plan_id, "plan_id", 1, 2**63 - 1))
    if row is None:
        raise PlanError(f"plan #{plan_id} not found (see: stratix-queue plans list)")
    return Plan.from_row(row)


def change(
    backend: Driver, plan_id: int, allowed: tuple[str, ...], status: str, entry: Audit
) -> Plan:
    """Move the plan to ``status`` from one of ``allowed``; PlanError otherwise. An
    ``entry.action`` of plan_resume is written plan_start for a plan that never ran."""

    def audited(row: Row) -> Audit:
        action = "plan_start" if row["status"] == "planned" and status == "running" else None
        return Audit(entry.actor, action or entry.action, row["command"], entry.reason)

    before = backend.change_plan(
        check_int(plan_id, "plan_id", 1, 2**63 - 1), allowed, status, audited
    )
    if before is None:
        raise PlanError(f"plan #{plan_id} not found (see: stratix-queue plans list)")
    if before["status"] not in allowed:
        raise PlanError(f"plan #{plan_id} is {before['status']}: it cannot be {_verb(status)}")
    return get(backend, plan_id)


def _verb(status: str) -> str:
    return {"running": "run", "paused": "paused", "aborted": "aborted"}.get(status, status)


RESUMABLE = OPEN_PLAN  # planned, a paused one, or one whose runner died while running
PAUSABLE = ("planned", "running")


@dataclass
class PlanRunner:
    """Runs a plan's batches until it is done, paused or aborted. ``rate`` (the plan's)
    is kept by sleeping between batches (each batch at most a second's worth of tasks);
    ``clock`` and ``sleep`` are there for tests."""

    backend: Driver
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def run(self, plan_id: int, progress: Progress | None = None) -> Plan:
        plan = get(self.backend, plan_id)
        size = plan.batch_size
        if plan.rate is not None:
            size = max(1, min(size, math.floor(plan.rate)))
        started, handled, after = self.clock(), 0, 0
        while True:
            batch = self.backend.plan_batch(plan_id, after, size)
            if batch.plan is None:
                raise PlanError(f"plan #{plan_id} not found")
            if plan.action == "retry":
                log_reset(batch.acted)
            plan = Plan.from_row(batch.plan)
            if progress is not None:
                progress(plan)
            if plan.status != "running":
                return plan
            after = batch.last_id
            handled += len(batch.acted) + len(batch.skipped)
            if plan.rate is not None:
                ahead = handled / plan.rate - (self.clock() - started)
                if ahead > 0:
                    self.sleep(ahead)
