"""Conformance: pause_group_until, resume_group_closing, set_group_breaker, group_settings,
watched_groups and group_transition (group_ops.py, groups.sql), called directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.backends.driver import Driver
from stratix_queue.backends.group_ops import BreakerSettings
from stratix_queue.group_watch import decide
from tests.backend.conftest import RawSql, claim, new_job, status_of

BREAKER = BreakerSettings(threshold=0.5, min_tasks=10, window=120.0, cooldown=30.0)


def minute(minutes_ago: int) -> str:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
    return start.strftime("%Y-%m-%d %H:%M:%S")


def add_rollup(raw: RawSql, minutes_ago: int, failed: int, succeeded: int, executor: str) -> None:
    raw.query(
        "INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, failed, "
        "retried, rescued, cancelled, run_ms_total, run_ms_max) "
        "VALUES (%s, %s, 'g', -1, %s, %s, 1, 1, 0, 0, 0)",
        (minute(minutes_ago), executor, succeeded, failed),
    )


def watched(driver: Driver, group: str = "g") -> dict[str, object]:
    [row] = [row for row in driver.watched_groups() if row["group_name"] == group]
    return row


def test_breaker_counts_whole_minutes_of_its_window(driver: Driver, raw: RawSql) -> None:
    driver.set_group_breaker("g", BREAKER)
    add_rollup(raw, 0, failed=3, succeeded=4, executor="a")  # + 1 retried + 1 rescued
    add_rollup(raw, 2, failed=2, succeeded=0, executor="a")  # overlaps the 120 s window
    add_rollup(raw, 5, failed=50, succeeded=0, executor="a")  # before it
    row = watched(driver)
    assert (int(row["failures"]), int(row["successes"])) == (9, 4)  # type: ignore[call-overload]
    assert decide(row) == "open"  # 9 of 13
    driver.set_group_breaker("g", BreakerSettings(0.5, 14, 120.0, 30.0))
    assert decide(watched(driver)) is None  # 13 outcomes < 14


def test_transitions_happen_once_and_pause_the_tasks(driver: Driver, raw: RawSql) -> None:
    waiting, delayed, second = driver.insert_jobs(
        [new_job(group="g"), new_job(group="g", delay=600), new_job(group="g")]
    )
    driver.set_group_breaker("g", BREAKER)
    assert driver.group_transition("g", "open")
    assert not driver.group_transition("g", "open")  # made once
    assert (status_of(driver, waiting.id), status_of(driver, delayed.id)) == ("paused", "paused")
    row = raw.query(
        "SELECT status, pause_reason, breaker_state, paused_until IS NOT NULL FROM queue_groups"
    )
    assert [tuple(r) for r in row] == [("paused", "breaker", "open", True)]
    assert not driver.group_transition("g", "probe")  # the cool-down is not over
    assert not driver.group_transition("g", "resume_due")  # an open breaker's pause is its own
    raw.query("UPDATE queue_groups SET paused_until = %s", ("2000-01-01 00:00:00",))
    assert decide(watched(driver)) == "probe"
    assert driver.group_transition("g", "probe")
    assert not driver.group_transition("g", "probe")
    assert (status_of(driver, waiting.id), status_of(driver, delayed.id)) == ("waiting", "delayed")
    assert claim(driver) == []  # not in the open lane: at the gate
    gate = ClaimParams("w", "t1", 10, 60.0, executors=("e",))
    [probe] = driver.claim_gated(gate) or []  # one
    assert driver.claim_gated(ClaimParams("w", "t2", 10, 60.0, executors=("e",))) == []
    assert status_of(driver, second.id) == "waiting"
    assert probe.id == waiting.id
    assert watched(driver)["probe_job_id"] == probe.id
    assert not driver.group_transition("g", "close", probe.id + 1)  # another probe
    assert driver.group_transition("g", "close", probe.id)
    assert [
        tuple(r) for r in raw.query("SELECT breaker_state, probe_job_id FROM queue_groups")
    ] == [(None, None)]


def test_pause_until_and_resume(driver: Driver, raw: RawSql) -> None:
    [job] = driver.insert_jobs([new_job(group="g")])
    assert driver.pause_group_until("g", 3600.0, "why") == 1
    [row] = driver.group_settings()
    assert (row["status"], row["pause_reason"]) == ("paused", "why")
    assert row["paused_until"] is not None
    assert decide(watched(driver)) is None
    raw.query("UPDATE queue_groups SET paused_until = %s", ("2000-01-01 00:00:00",))
    assert decide(watched(driver)) == "resume_due"
    assert driver.group_transition("g", "resume_due")
    assert not driver.group_transition("g", "resume_due")
    assert status_of(driver, job.id) == "waiting"
    assert driver.pause_group_until("g", None, None) == 1
    assert driver.resume_group_closing("g") == 1
    [row] = driver.group_settings()
    assert (row["status"], row["pause_reason"], row["paused_until"]) == ("active", None, None)
