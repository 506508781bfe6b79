"""QueueService's schedules: create or replace, list, pause, resume, run now, remove. Workers
enqueue their due ticks (scheduler.py); docs/schedules.md is the guide.

The modules these methods use are imported in them: a worker process, which imports
QueueService, never loads them (their import time was a measurable part of a short drain)."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.driver import Driver
from stratix_queue.errors import InvalidInputError
from stratix_queue.executors import ExecutorRegistry
from stratix_queue.validation import (
    INT32_MAX,
    INT32_MIN,
    MAX_ATTEMPTS_LIMIT,
    check_int,
    check_name,
    encode_payload,
)

if TYPE_CHECKING:
    from stratix_queue.job import Job
    from stratix_queue.schedules import Schedule


class Schedules:
    """Tasks enqueued by cron schedules, each tick once."""

    backend: Driver
    executors: ExecutorRegistry
    max_payload_bytes: int
    _encoder: json.JSONEncoder
    _wakeup: threading.Event

    def schedule(
        self,
        schedule_name: str,
        cron: str,
        executor: str,
        payload: Any = None,
        group: str | None = None,
        timezone: str = "UTC",
        missed: str = "skip",
        name: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
    ) -> Schedule:
        """Create or replace the schedule ``schedule_name``: a task for ``executor`` at every
        tick of ``cron`` (5 fields, or 6 with seconds first; cronsim's syntax) on the wall
        clock of ``timezone``. ``name``: the tasks' name (default: the schedule's);
        ``payload``, ``group``, ``priority``, ``max_attempts``: theirs, checked as add_task
        checks them. ``missed``: what a tick found more than 60 s late does ("skip": nothing,
        the schedule moves to its next tick; "once": one task for all the ticks missed).

        A new schedule is active and first ticks after now (the database's clock). Replacing
        one keeps whether it is paused, its last run and, unless its cron or time zone
        changed, its next tick."""
        from stratix_queue.backends.schedule_args import NewSchedule
        from stratix_queue.schedules import (
            Schedule,
            check_cron,
            check_missed,
            check_timezone,
            next_after,
        )

        key = str(check_name(schedule_name, "schedule name"))
        task_name = key if name is None else str(check_name(name, "name"))
        runs = str(check_name(executor, "executor"))
        group_name = check_name(group, "group", optional=True)
        payload_json = encode_payload(
            {} if payload is None else payload, self.max_payload_bytes, self._encoder
        )
        attempts = (
            self.executors.default_max_attempts(runs) if max_attempts is None else max_attempts
        )
        expression = check_cron(cron)
        zone = check_timezone(timezone).key
        new = NewSchedule(
            name=key,
            cron=expression,
            timezone=zone,
            task_name=task_name,
            executor=runs,
            payload_json=payload_json,
            group=group_name,
            priority=check_int(priority, "priority", INT32_MIN, INT32_MAX),
            max_attempts=check_int(attempts, "max_attempts", 1, MAX_ATTEMPTS_LIMIT),
            missed=check_missed(missed),
            next_run_at=next_after(expression, zone, self.backend.database_now()),
        )
        return Schedule.from_row(self.backend.save_schedule(new))

    def get_schedule(self, name: str) -> Schedule | None:
        """The schedule, or None if there is none of that name."""
        from stratix_queue.schedules import Schedule

        row = self.backend.get_schedule(str(check_name(name, "schedule name")))
        return None if row is None else Schedule.from_row(row)

    def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        from stratix_queue.schedules import Schedule

        return [Schedule.from_row(row) for row in self.backend.list_schedules()]

    def pause_schedule(self, name: str) -> Schedule:
        """Stop enqueueing the schedule's ticks until it resumes (InvalidInputError: no such
        schedule)."""
        from stratix_queue.schedules import PAUSED

        return self._set_status(name, PAUSED)

    def resume_schedule(self, name: str) -> Schedule:
        """Enqueue the schedule's ticks again, from its first tick after now: the ticks that
        fell while it was paused are not run (InvalidInputError: no such schedule)."""
        from stratix_queue.schedules import ACTIVE

        return self._set_status(name, ACTIVE)

    def _set_status(self, name: str, status: str) -> Schedule:
        from stratix_queue.schedules import ACTIVE, Schedule, next_after

        key = str(check_name(name, "schedule name"))
        next_run_at = None
        if status == ACTIVE:
            current = self.backend.get_schedule(key)
            if current is None:
                raise _not_found(key)
            now = self.backend.database_now()
            next_run_at = next_after(current["cron"], current["timezone"], now)
        row = self.backend.set_schedule_status(key, status, next_run_at)
        if row is None:
            raise _not_found(key)
        return Schedule.from_row(row)

    def run_schedule_now(self, name: str) -> Job:
        """Enqueue one task of the schedule now, paused or not; its next tick stays as it was
        (InvalidInputError: no such schedule)."""
        from stratix_queue.job import JobStatus
        from stratix_queue.schedules import task_of

        key = str(check_name(name, "schedule name"))
        done = self.backend.run_schedule_now(key, lambda row: task_of(row, None))
        if done is None:
            raise _not_found(key)
        job = done[1]
        if job.status is JobStatus.WAITING:
            self._wakeup.set()
        return job

    def remove_schedule(self, name: str) -> bool:
        """Delete the schedule (the tasks it enqueued stay); False if there was none."""
        return self.backend.remove_schedule(str(check_name(name, "schedule name")))


def _not_found(name: str) -> InvalidInputError:
    return InvalidInputError(f"no schedule named {name!r}")
