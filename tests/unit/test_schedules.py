"""The cron arithmetic of schedules (schedules.py): time zones and daylight-saving
transitions, as cronsim walks them, and the scheduler's plan for a due schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from stratix_queue.errors import InvalidInputError
from stratix_queue.schedules import (
    GRACE_SECONDS,
    Schedule,
    check_cron,
    check_missed,
    check_timezone,
    latest_due,
    next_after,
    plan_tick,
)
from stratix_queue.worker_options import WorkerOptions

PARIS = "Europe/Paris"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def naive(*args: int) -> datetime:
    return datetime(*args)  # type: ignore[misc]


def test_spring_forward_runs_the_0230_tick_once_at_0300() -> None:
    """2026-03-29, Paris: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that night.
    cronsim (as Debian cron) runs the tick at the first minute that exists after it: 03:00
    CEST (01:00 UTC), once; the next night is 02:30 CEST again."""
    tick = next_after("30 2 * * *", PARIS, utc(2026, 3, 28, 12))
    assert tick == naive(2026, 3, 29, 1, 0)
    assert next_after("30 2 * * *", PARIS, tick) == naive(2026, 3, 30, 0, 30)
    assert next_after("30 2 * * *", PARIS, utc(2026, 3, 27, 12)) == naive(2026, 3, 28, 1, 30)


def test_fall_back_runs_the_0230_tick_once_the_first_time() -> None:
    """2026-10-25, Paris: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice. A daily
    02:30 runs once, at the first (02:30 CEST, 00:30 UTC); the next is 02:30 CET the day
    after (01:30 UTC)."""
    tick = next_after("30 2 * * *", PARIS, utc(2026, 10, 24, 12))
    assert tick == naive(2026, 10, 25, 0, 30)
    after = next_after("30 2 * * *", PARIS, tick)
    assert after == naive(2026, 10, 26, 1, 30)
    # Asked from inside the repeated hour (02:45 CET, after both 02:30s): the next day's.
    assert next_after("30 2 * * *", PARIS, utc(2026, 10, 25, 1, 45)) == after


def test_an_hourly_schedule_follows_real_hours_across_the_fall_back() -> None:
    """Minute 30 of every hour: the repeated hour has its own 02:30, so every real hour ticks
    once (cronsim applies its wall-clock rule only to a fixed hour and minute)."""
    ticks, moment = [], utc(2026, 10, 24, 23, 0)
    for _ in range(4):
        moment = next_after("30 * * * *", PARIS, moment).replace(tzinfo=UTC)
        ticks.append(moment.replace(tzinfo=None))
    assert ticks == [naive(2026, 10, 24, 23, 30) + timedelta(hours=i) for i in range(4)]


def test_latest_due_agrees_with_the_forward_ticks_across_dst() -> None:
    assert latest_due("30 2 * * *", PARIS, utc(2026, 3, 29, 3)) == naive(2026, 3, 29, 1, 0)
    assert latest_due("30 2 * * *", PARIS, utc(2026, 10, 25, 3)) == naive(2026, 10, 25, 0, 30)
    assert latest_due("0 3 * * *", "UTC", utc(2026, 1, 2, 3)) == naive(2026, 1, 2, 3)
    assert latest_due("0 3 * * *", "UTC", utc(2026, 1, 2, 2, 59)) == naive(2026, 1, 1, 3)


def _schedule(next_run_at: datetime, missed: str = "skip", cron: str = "30 2 * * *") -> Schedule:
    return Schedule(
        name="s",
        cron=cron,
        timezone=PARIS,
        task_name="s",
        executor="e",
        payload={},
        group=None,
        priority=0,
        max_attempts=1,
        missed=missed,
        status="active",
        next_run_at=next_run_at,
        last_run_at=None,
        last_job_id=None,
        created_at=None,
        updated_at=None,
    )


def test_plan_of_a_tick_on_time_and_after_downtime() -> None:
    on_spring_day = _schedule(utc(2026, 3, 29, 1, 0))
    plan = plan_tick(on_spring_day, utc(2026, 3, 29, 1, 0, 1))
    assert (plan.tick, plan.next_run_at, plan.missed_from) == (
        naive(2026, 3, 29, 1, 0),
        naive(2026, 3, 30, 0, 30),
        None,
    )
    late = utc(2026, 3, 29, 1, 0) + timedelta(seconds=GRACE_SECONDS + 1)
    skipped = plan_tick(on_spring_day, late)
    assert (skipped.tick, skipped.next_run_at) == (None, naive(2026, 3, 30, 0, 30))
    assert skipped.missed_from == naive(2026, 3, 29, 1, 0)
    # Down from before the fall-back night to the night after: three ticks missed, one run.
    down = _schedule(utc(2026, 10, 25, 0, 30), missed="once")
    once = plan_tick(down, utc(2026, 10, 27, 12))
    assert (once.tick, once.next_run_at) == (naive(2026, 10, 27, 1, 30), naive(2026, 10, 28, 1, 30))
    assert once.missed_from == naive(2026, 10, 25, 0, 30)
    assert plan_tick(replace(down, missed="skip"), utc(2026, 10, 27, 12)).tick is None


def test_checks() -> None:
    assert check_cron(" 0   3 * * * ") == "0 3 * * *"
    assert check_cron("*/5 * * * * *") == "*/5 * * * * *"  # six fields: seconds first
    for bad in ("", "* * * *", "60 * * * *", "* * * * * * *", "0 3 31 2 *"):
        with pytest.raises(InvalidInputError):
            check_cron(bad)
    assert check_timezone("Europe/Paris").key == "Europe/Paris"
    for zone in ("Nowhere/Special", " UTC", "/etc/localtime", ""):
        with pytest.raises(InvalidInputError):
            check_timezone(zone)
    assert check_missed("once") == "once"
    with pytest.raises(InvalidInputError):
        check_missed("twice")


def test_worker_option_turns_schedules_off() -> None:
    assert WorkerOptions().schedules is True
    off = WorkerOptions(schedules=False)
    assert off.schedules is False
    assert replace(off, handle_signals=True).schedules is False  # the supervisor's copy
