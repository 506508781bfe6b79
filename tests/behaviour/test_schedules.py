"""Schedules on every backend: the API and its checks, the scheduler's ticks (once each, the
missed policies, a paused group), a restart, a burst worker, and three scheduler processes
racing for the same ticks."""

from __future__ import annotations

import logging
import multiprocessing
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from stratix_queue import InvalidInputError, Job, QueueService
from stratix_queue.scheduler import enqueue_due
from stratix_queue.schedules import GRACE_SECONDS, Schedule
from tests import dbs, scheduleproc


def stamp(moment: datetime) -> str:
    """A time as every backend reads it in SQL (and as SQLite stores it)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="milliseconds")


def set_next_run(url: str, name: str, moment: datetime) -> None:
    sql = "UPDATE queue_schedules SET next_run_at = %s WHERE name = %s"
    dbs.query(url, sql, (stamp(moment), name))


def db_now(queue: QueueService) -> datetime:
    return queue.backend.database_now()


def tasks(url: str) -> list[tuple[Any, ...]]:
    return dbs.query(url, "SELECT id, job_name, status FROM queue_jobs ORDER BY id")


def this_second(queue: QueueService) -> tuple[str, datetime]:
    """An hourly cron (six fields: seconds first), and its tick that is due now: this second
    (the next one is an hour later, so no other falls due while the test runs)."""
    tick = db_now(queue).replace(microsecond=0)
    return f"{tick.second} {tick.minute} * * * *", tick


def minute_cron_away_from(now: datetime) -> str:
    """An hourly cron whose ticks fall 30 minutes from ``now``: none within the grace."""
    return f"{(now.minute + 30) % 60} * * * *"


# -- the API ----------------------------------------------------------------------------------


def test_schedule_is_saved_and_listed(queue: QueueService) -> None:
    before = db_now(queue)
    saved = queue.schedule(
        "nightly-report",
        cron="0  3 * * *",
        executor="report",
        payload={"kind": "daily", "n": [1, 2]},
        group="reports",
        timezone="Europe/Paris",
        missed="once",
        priority=5,
        max_attempts=3,
    )
    assert isinstance(saved, Schedule)
    assert (saved.name, saved.cron, saved.timezone) == (
        "nightly-report",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert (saved.task_name, saved.executor, saved.group) == ("nightly-report", "report", "reports")
    assert saved.payload == {"kind": "daily", "n": [1, 2]}
    assert (saved.priority, saved.max_attempts, saved.missed, saved.status) == (
        5,
        3,
        "once",
        "active",
    )
    assert (saved.last_run_at, saved.last_job_id) == (None, None)
    # The next 03:00 on Paris's wall clock, after the database's now.
    local = saved.next_run_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute, local.second) == (3, 0, 0)
    assert before < saved.next_run_at <= before + timedelta(days=1)
    assert queue.get_schedule("nightly-report") == saved
    assert queue.get_schedule("other") is None

    queue.schedule("a-first", cron="*/5 * * * *", executor="e", name="custom")
    listed = queue.list_schedules()
    assert [s.name for s in listed] == ["a-first", "nightly-report"]
    assert listed[0].task_name == "custom"
    assert (listed[0].timezone, listed[0].missed, listed[0].payload) == ("UTC", "skip", {})


def test_replacing_keeps_state_unless_the_cron_changes(queue: QueueService, db_url: str) -> None:
    queue.schedule("s", cron="0 3 * * *", executor="e")
    kept = datetime(2030, 1, 1, 3, tzinfo=UTC)
    set_next_run(db_url, "s", kept)
    queue.pause_schedule("s")
    replaced = queue.schedule("s", cron="0 3 * * *", executor="other", payload={"v": 2})
    assert (replaced.executor, replaced.payload) == ("other", {"v": 2})
    assert replaced.next_run_at == kept  # same cron and zone: the next tick stays
    assert replaced.paused  # an operator's pause survives a redeploy that saves it again
    moved = queue.schedule("s", cron="0 4 * * *", executor="other")
    assert moved.next_run_at != kept
    assert moved.next_run_at.hour == 4
    rezoned = queue.schedule("s", cron="0 4 * * *", executor="other", timezone="Asia/Tokyo")
    assert rezoned.next_run_at.hour == 19  # 04:00 in Tokyo
    assert len(queue.list_schedules()) == 1


def test_max_attempts_defaults_to_the_executors(queue: QueueService) -> None:
    queue.register_executor("retried", lambda payload: None, max_attempts=4)
    assert queue.schedule("s", cron="* * * * *", executor="retried").max_attempts == 4
    assert queue.schedule("t", cron="* * * * *", executor="unknown").max_attempts == 1


class NotJson:
    pass


BAD_INPUT: list[dict[str, Any]] = [
    {"cron": "61 * * * *"},
    {"cron": "* * *"},
    {"cron": "not a cron"},
    {"cron": ""},
    {"cron": 5},
    {"timezone": "Mars/Olympus"},
    {"timezone": "../../etc/passwd"},
    {"timezone": ""},
    {"payload": {"x": NotJson()}},
    {"payload": {"x": float("nan")}},
    {"missed": "all"},
    {"executor": ""},
    {"group": " padded "},
    {"name": "x" * 256},
    {"priority": 2**40},
    {"max_attempts": 0},
]


@pytest.mark.parametrize(
    "bad", BAD_INPUT, ids=[next(iter(b)) + "-" + repr(b)[:30] for b in BAD_INPUT]
)
def test_bad_input_is_refused_and_writes_nothing(
    queue: QueueService, db_url: str, bad: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"cron": "0 3 * * *", "executor": "e", **bad}
    with pytest.raises(InvalidInputError):
        queue.schedule("s", **args)
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_schedules") == 0
    with pytest.raises(InvalidInputError):
        queue.schedule("", cron="0 3 * * *", executor="e")
    assert queue.list_schedules() == []


def test_pause_resume_run_now_remove(queue: QueueService, db_url: str) -> None:
    first = queue.schedule("s", cron="0 3 * * *", executor="e", payload={"p": 1}, group="g")
    set_next_run(db_url, "s", datetime(2000, 1, 1, 3, tzinfo=UTC))  # long overdue
    paused = queue.pause_schedule("s")
    assert paused.status == "paused"
    assert queue.pause_schedule("s").status == "paused"  # twice is fine
    assert enqueue_due(queue.backend) == []  # a paused schedule enqueues nothing

    job = queue.run_schedule_now("s")  # paused or not
    assert (job.name, job.executor, job.payload, job.group) == ("s", "e", {"p": 1}, "g")
    after = queue.get_schedule("s")
    assert after is not None
    assert after.last_job_id == job.id
    assert after.last_run_at is not None
    assert after.next_run_at == datetime(2000, 1, 1, 3, tzinfo=UTC)  # run-now leaves it

    resumed = queue.resume_schedule("s")
    assert resumed.status == "active"
    # The ticks that fell while paused are not run: it moves to its next tick after now.
    assert resumed.next_run_at == first.next_run_at
    assert queue.resume_schedule("s").next_run_at == first.next_run_at  # already active
    assert enqueue_due(queue.backend) == []
    assert [row[0] for row in tasks(db_url)] == [job.id]

    assert queue.remove_schedule("s") is True
    assert queue.remove_schedule("s") is False
    assert queue.get_schedule("s") is None
    assert [row[0] for row in tasks(db_url)] == [job.id]  # its tasks stay
    for action in (queue.pause_schedule, queue.resume_schedule, queue.run_schedule_now):
        with pytest.raises(InvalidInputError, match="no schedule named 's'"):
            action("s")


# -- the scheduler ----------------------------------------------------------------------------


def test_a_due_tick_is_enqueued_once(
    queue: QueueService, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cron, tick = this_second(queue)
    queue.schedule(
        "report",
        cron=cron,
        executor="make_report",
        payload={"k": "v"},
        group="reports",
        priority=7,
        max_attempts=2,
        name="daily report",
    )
    set_next_run(db_url, "report", tick)
    with caplog.at_level(logging.INFO, logger="stratix_queue"):
        [job] = enqueue_due(queue.backend)
    assert enqueue_due(queue.backend) == []  # the next tick is not due yet
    assert (job.name, job.executor, job.payload, job.group) == (
        "daily report",
        "make_report",
        {"k": "v"},
        "reports",
    )
    assert (job.priority, job.max_attempts, job.status.value) == (7, 2, "waiting")
    assert job.run_at == tick  # the tick it stands for
    assert queue.get_task(job.id) == job
    after = queue.get_schedule("report")
    assert after is not None
    assert (after.last_job_id, after.last_run_at) == (job.id, tick)
    assert after.next_run_at == tick + timedelta(hours=1)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("stratix_queue")]
    assert lines == [
        f"schedule report: tick {tick:%Y-%m-%dT%H:%M:%SZ} enqueued as task id={job.id} "
        "name=daily report executor=make_report"
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_ticks_within_the_grace_each_run(queue: QueueService, db_url: str) -> None:
    queue.schedule("s", cron="*/10 * * * * *", executor="e", missed="skip")  # every 10 s
    start = (db_now(queue) - timedelta(seconds=35)).replace(microsecond=0)
    start -= timedelta(seconds=start.second % 10)
    set_next_run(db_url, "s", start)
    jobs = enqueue_due(queue.backend)
    assert [job.run_at for job in jobs] == [
        start + timedelta(seconds=10 * i) for i in range(len(jobs))
    ]
    assert len(jobs) in (4, 5)  # 35 to 44 s of ticks, each one due within the grace


def test_a_task_of_a_paused_group_is_paused(queue: QueueService, db_url: str) -> None:
    queue.pause_group("held")
    cron, tick = this_second(queue)
    queue.schedule("s", cron=cron, executor="e", group="held")
    set_next_run(db_url, "s", tick)
    [job] = enqueue_due(queue.backend)
    assert job.status.value == "paused"


@pytest.mark.parametrize("policy", ["skip", "once"])
def test_missed_ticks(policy: str, queue: QueueService, db_url: str) -> None:
    now = db_now(queue)
    cron = minute_cron_away_from(now)  # hourly, 30 minutes away from now
    created = queue.schedule("s", cron=cron, executor="e", missed=policy)
    upcoming = created.next_run_at  # ~30 minutes from now
    last_missed = upcoming - timedelta(hours=1)
    set_next_run(db_url, "s", upcoming - timedelta(hours=5))  # 5 ticks missed: workers down
    jobs = enqueue_due(queue.backend)
    if policy == "skip":
        assert jobs == []
    else:
        [job] = jobs  # one task for the five ticks, standing for the last of them
        assert job.run_at == last_missed
    after = queue.get_schedule("s")
    assert after is not None
    assert after.next_run_at == upcoming  # then it moves on to its next tick
    assert after.last_job_id == (jobs[0].id if jobs else None)
    assert enqueue_due(queue.backend) == []


def test_a_tick_just_within_the_grace_runs_under_skip(queue: QueueService, db_url: str) -> None:
    queue.schedule("s", cron=minute_cron_away_from(db_now(queue)), executor="e", missed="skip")
    due = db_now(queue) - timedelta(seconds=GRACE_SECONDS - 10)
    set_next_run(db_url, "s", due)
    [job] = enqueue_due(queue.backend)
    assert abs(job.run_at - due) < timedelta(milliseconds=2)


def test_the_schedule_survives_a_restart(db_url: str) -> None:
    with QueueService(db_url) as first:
        saved = first.schedule("s", cron="0 3 * * *", executor="e", timezone="Europe/Paris")
    with QueueService(db_url) as second:  # a new process: only the database remembers
        assert second.get_schedule("s") == saved
        due = (db_now(second) - timedelta(seconds=2)).replace(microsecond=0)
        set_next_run(db_url, "s", due)
        [job] = enqueue_due(second.backend)
    with QueueService(db_url) as third:
        again = third.get_schedule("s")
        assert again is not None
        assert again.next_run_at > due  # persisted: the tick is not run again
        assert again.last_job_id == job.id
        assert enqueue_due(third.backend) == []
    assert len(tasks(db_url)) == 1


def test_a_burst_worker_enqueues_and_runs_due_ticks(queue: QueueService, db_url: str) -> None:
    ran: list[tuple[Any, int]] = []

    @queue.executor("report")
    def report(payload: Any, job: Job) -> None:
        ran.append((payload, job.id))

    cron, tick = this_second(queue)
    queue.schedule("s", cron=cron, executor="report", payload={"n": 1})
    set_next_run(db_url, "s", tick)
    queue.run_worker(concurrency=1, burst=True, poll_interval=0.05, schedules=False)
    assert ran == []  # turned off: the tick waits for a worker that runs schedules
    stats = queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    assert stats.succeeded == 1
    schedule = queue.get_schedule("s")
    assert schedule is not None
    assert ran == [({"n": 1}, schedule.last_job_id)]


@pytest.mark.slow
def test_three_scheduler_processes_enqueue_each_tick_once(queue: QueueService, db_url: str) -> None:
    """Three processes run the scheduler against one database over schedules that tick every
    second, from 30 s back (every tick within the grace, so each is enqueued on its own): the
    tasks are exactly the ticks from there to the schedule's next_run_at, once each."""
    names = [f"every-second-{i}" for i in range(4)]
    start = (db_now(queue) - timedelta(seconds=30)).replace(microsecond=0)
    for name in names:
        queue.schedule(name, cron="* * * * * *", executor="e", missed="skip")
        set_next_run(db_url, name, start)
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=scheduleproc.run, args=(db_url, go, 2.0, results)) for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    go.set()
    try:
        reported = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(30)
        assert [proc.exitcode for proc in procs] == [0, 0, 0]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    rows = dbs.query(db_url, "SELECT id, job_name, run_at FROM queue_jobs")
    per_tick = Counter((row[1], _utc(row[2])) for row in rows)
    assert max(per_tick.values()) == 1, [k for k, v in per_tick.items() if v > 1][:5]
    for name in names:
        schedule = queue.get_schedule(name)
        assert schedule is not None
        span = int((schedule.next_run_at - start).total_seconds())
        expected = {(name, start + timedelta(seconds=i)) for i in range(span)}
        assert {key for key in per_tick if key[0] == name} == expected
        assert span >= 31
    ids = sorted(i for mine in reported for i in mine)
    assert ids == sorted(row[0] for row in rows)  # each task enqueued by one process


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
