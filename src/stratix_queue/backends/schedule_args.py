"""The parameter types of the schedule operations (schedule_ops.py): a schedule to save
(NewSchedule) and one due tick to enqueue (Tick). Validated by the service layer
(schedules.py) before they reach a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stratix_queue.backends.arguments import NewJob


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """A schedule to create or replace, already checked; ``payload_json`` is the encoded
    payload. ``next_run_at`` (naive UTC) is used when the schedule is new or its cron or time
    zone changed; otherwise the stored one is kept."""

    name: str
    cron: str
    timezone: str
    task_name: str
    executor: str
    payload_json: str
    group: str | None
    priority: int
    max_attempts: int
    missed: str
    next_run_at: datetime


@dataclass(frozen=True, slots=True)
class Tick:
    """One due schedule moved on by a compare-and-set: it applies only while the schedule is
    active and its ``next_run_at`` is still ``seen`` (as the database returned it). ``job``:
    the task to enqueue in the same transaction (None: the tick is skipped), its ``run_at``
    the tick it stands for (naive UTC)."""

    name: str
    seen: object
    next_run_at: datetime
    job: NewJob | None
