"""The scheduler: enqueue the tasks of due schedules, each tick exactly once however many
workers (processes, hosts) run it.

Every worker's maintenance thread calls :func:`enqueue_due` about once a second (and a worker
once as it starts, so a burst worker enqueues what is due). It reads the due schedules by the
database's clock, then, per schedule, in one transaction, moves ``next_run_at`` on with a
compare-and-set and inserts the task only if that applied (``Driver.fire_schedule``): of the
schedulers that read the same due tick, one enqueues it and the others write nothing.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from stratix_queue.backends.driver import Driver
from stratix_queue.backends.session import Row
from stratix_queue.clock import to_utc
from stratix_queue.job import Job

if TYPE_CHECKING:
    from stratix_queue.schedules import Schedule, TickPlan

log = logging.getLogger("stratix_queue.scheduler")
# Seconds between two looks for due schedules in a worker.
SCHEDULER_SECONDS = 1.0
DUE_BATCH = 100  # schedules read per pass
# Passes per look: a schedule with several ticks due within the grace period (one of seconds,
# after a pause of the workers) enqueues one a pass; what is left waits for the next look.
MAX_PASSES = 100
# A look stops starting passes after this long: the maintenance thread that runs it also
# renews the worker's leases.
BUDGET_SECONDS = 0.5


def enqueue_due(backend: Driver, limit: int = DUE_BATCH) -> list[Job]:
    """Enqueue the due ticks of up to ``limit`` schedules a pass, until none is due (or
    another scheduler took every tick of a pass); the tasks this call enqueued."""
    enqueued: list[Job] = []
    deadline = time.monotonic() + BUDGET_SECONDS
    for _ in range(MAX_PASSES):
        rows = backend.due_schedules(limit)
        moved = [_fire(backend, row, enqueued) for row in rows]
        if not any(moved) or time.monotonic() > deadline:
            break
    return enqueued


def _fire(backend: Driver, row: Row, enqueued: list[Job]) -> bool:
    """One step of one due schedule (scheduler's plan_tick), in one transaction; False if
    another scheduler moved it first (or it was paused or changed meanwhile). The modules of
    schedules are imported here: a worker loads them once a schedule is due, not before."""
    from stratix_queue.backends.schedule_args import Tick
    from stratix_queue.schedules import Schedule, plan_tick, task_of

    now = to_utc(row["db_now"])
    assert now is not None
    schedule = Schedule.from_row(row)
    plan = plan_tick(schedule, now)
    job = None if plan.tick is None else task_of(row, plan.tick)
    done = backend.fire_schedule(Tick(schedule.name, row["next_run_at"], plan.next_run_at, job))
    if done is False:
        return False
    if plan.missed_from is not None:
        _log_missed(schedule, plan)
    if isinstance(done, Job):
        enqueued.append(done)
        log.info(
            "schedule %s: tick %s enqueued as task id=%s name=%s executor=%s",
            schedule.name,
            _when(plan.tick),
            done.id,
            done.name,
            done.executor,
        )
    return True


def _log_missed(schedule: Schedule, plan: TickPlan) -> None:
    from stratix_queue.schedules import GRACE_SECONDS

    if plan.tick is None:
        log.warning(
            "schedule %s: ticks since %s missed by more than %gs, skipped (missed=skip); "
            "next tick %s",
            schedule.name,
            _when(plan.missed_from),
            GRACE_SECONDS,
            _when(plan.next_run_at),
        )
    else:
        log.warning(
            "schedule %s: ticks from %s to %s missed, one task enqueued for them (missed=once)",
            schedule.name,
            _when(plan.missed_from),
            _when(plan.tick),
        )


def _when(value: object) -> str:
    moment = to_utc(value)
    return "-" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
