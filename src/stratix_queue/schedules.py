"""Schedules: the :class:`Schedule` record, the checks of a new schedule, and the cron
arithmetic (cronsim, in the schedule's time zone; times stored as naive UTC).

cronsim is imported where a cron expression is read: a worker process loads it only once a
schedule is due.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stratix_queue.backends.arguments import NewJob
from stratix_queue.backends.session import Row
from stratix_queue.clock import to_naive_utc, to_utc
from stratix_queue.errors import InvalidInputError

MISSED_POLICIES = ("skip", "once")
ACTIVE, PAUSED = "active", "paused"
# A tick found due at most this late runs, whatever the missed policy: a scheduler looks every
# second, so a tick is normally seconds late at most; one later than this was missed (every
# worker was down, or the schedules were turned off) and its schedule's policy decides.
GRACE_SECONDS = 60.0
MAX_CRON_LENGTH = 255
MAX_TIMEZONE_LENGTH = 64
# The most ticks looked at to find the next one after a time (a time-zone fold can give ticks
# before it; cronsim gives up itself past 50 years without a match).
_SEARCH_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as stored in queue_schedules. Times are aware UTC; ``next_run_at`` is the
    tick it enqueues next, ``last_run_at`` the tick it last enqueued (the time of a
    ``run_schedule_now``), ``last_job_id`` that task's id."""

    name: str
    cron: str
    timezone: str
    task_name: str
    executor: str
    payload: Any
    group: str | None
    priority: int
    max_attempts: int
    missed: str
    status: str
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: int | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def paused(self) -> bool:
        return self.status == PAUSED

    @property
    def zone(self) -> ZoneInfo:
        """The time zone whose wall clock the cron is read on."""
        return ZoneInfo(self.timezone)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Schedule:
        next_run_at = to_utc(row["next_run_at"])
        assert next_run_at is not None  # NOT NULL
        last_job_id = row["last_job_id"]
        return cls(
            name=row["name"],
            cron=row["cron"],
            timezone=row["timezone"],
            task_name=row["job_name"],
            executor=row["executor"],
            payload=json.loads(_text(row["payload"])),
            group=row["group_name"],
            priority=int(row["priority"]),
            max_attempts=int(row["max_attempts"]),
            missed=row["missed"],
            status=row["status"],
            next_run_at=next_run_at,
            last_run_at=to_utc(row["last_run_at"]),
            last_job_id=None if last_job_id is None else int(last_job_id),
            created_at=to_utc(row["created_at"]),
            updated_at=to_utc(row["updated_at"]),
        )


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


# -- checks ---------------------------------------------------------------------------------


def check_cron(cron: object) -> str:
    """A cron expression cronsim reads: 5 fields (minute to day of week), or 6 with seconds
    first; whitespace between fields normalised to one space."""
    from cronsim import CronSim, CronSimError

    if not isinstance(cron, str):
        raise InvalidInputError(f"cron must be a string, not {type(cron).__name__}")
    text = " ".join(cron.split())
    if not text or len(text) > MAX_CRON_LENGTH:
        raise InvalidInputError(f"cron must be 1 to {MAX_CRON_LENGTH} characters")
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise InvalidInputError(
            f"cron {cron!r} is not a cron expression cronsim reads: {exc}"
        ) from None
    return text


def check_timezone(timezone: object) -> ZoneInfo:
    """An IANA time zone name ('Europe/Paris', 'UTC')."""
    if not isinstance(timezone, str):
        raise InvalidInputError(f"timezone must be a string, not {type(timezone).__name__}")
    if not timezone or len(timezone) > MAX_TIMEZONE_LENGTH or timezone != timezone.strip():
        raise InvalidInputError(f"timezone {timezone!r} is not a time zone name")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(
            f"timezone {timezone!r} is not a known IANA time zone (e.g. 'Europe/Paris', 'UTC'; "
            "a system without a time zone database needs `pip install tzdata`)"
        ) from exc


def check_missed(missed: object) -> str:
    if missed not in MISSED_POLICIES:
        raise InvalidInputError(
            f"missed must be one of {', '.join(MISSED_POLICIES)}, not {missed!r}"
        )
    return str(missed)


# -- cron arithmetic ------------------------------------------------------------------------


def _zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)


def next_after(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick strictly after ``after`` (aware, or naive UTC), as naive UTC. cronsim
    walks the schedule's wall clock; a tick it gives that is not after ``after`` in real time
    (a time in the hour a fall-back repeats) is passed over."""
    moment = to_utc(after)
    assert moment is not None
    for tick in _ticks(cron, timezone, moment):
        if tick > moment:
            return to_naive_utc(tick)
    raise InvalidInputError(f"cron {cron!r} gives no tick after {moment.isoformat()}")


def latest_due(cron: str, timezone: str, now: datetime) -> datetime:
    """The last tick at or before ``now`` (aware UTC), as naive UTC (cronsim in reverse)."""
    from cronsim import CronSim

    start = now.astimezone(_zone(timezone)).replace(microsecond=0) + timedelta(seconds=1)
    return to_naive_utc(next(CronSim(cron, start, reverse=True)))


def _ticks(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    from cronsim import CronSim

    ticks = CronSim(cron, after.astimezone(_zone(timezone)))
    for _ in range(_SEARCH_LIMIT):
        try:
            yield next(ticks)
        except StopIteration:
            return


# -- what a tick does -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickPlan:
    """What a scheduler does with a due schedule: enqueue the task of ``tick`` (None: none)
    and move next_run_at to ``next_run_at``; ``missed_from``: the first of the ticks missed by
    more than the grace period, if the schedule was that late."""

    tick: datetime | None
    next_run_at: datetime
    missed_from: datetime | None = None


def plan_tick(schedule: Schedule, now: datetime) -> TickPlan:
    """The due schedule's next step. A tick due at most GRACE_SECONDS ago runs: its task is
    enqueued and the schedule moves to the tick after it (which may be due too: the scheduler
    comes back for it). Ticks due longer ago were missed: ``skip`` enqueues nothing, ``once``
    one task for all of them (standing for the last of them), and the schedule moves to its
    first tick within the grace period (or after now)."""
    seen = to_naive_utc(schedule.next_run_at)
    if (to_naive_utc(now) - seen).total_seconds() <= GRACE_SECONDS:
        return TickPlan(seen, next_after(schedule.cron, schedule.timezone, seen))
    cutoff = now - timedelta(seconds=GRACE_SECONDS)
    next_run_at = next_after(schedule.cron, schedule.timezone, cutoff)
    if schedule.missed == "skip":
        return TickPlan(None, next_run_at, seen)
    last_missed = max(latest_due(schedule.cron, schedule.timezone, cutoff), seen)
    return TickPlan(last_missed, next_run_at, seen)


def task_of(row: Row, run_at: datetime | None) -> NewJob:
    """The task a schedule enqueues, from its row (checked when the schedule was saved)."""
    return NewJob(
        name=row["job_name"],
        executor=row["executor"],
        group=row["group_name"],
        payload_json=_text(row["payload"]),
        priority=int(row["priority"]),
        max_attempts=int(row["max_attempts"]),
        delay_seconds=0.0,
        run_at=run_at,
    )
