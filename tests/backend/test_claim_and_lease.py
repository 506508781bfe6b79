"""claim, promote_due, mark_started, heartbeat, release_claim, any_waiting and
recently_prefetched, called directly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stratix_queue import JobStatus
from stratix_queue.backends.driver import Driver
from tests.backend.conftest import RawSql, ago, claim, new_job, now, status_of


def test_claim_takes_priority_then_run_at_then_id(driver: Driver) -> None:
    early, late = ago(30).replace(microsecond=0), ago(10).replace(microsecond=0)
    a, b, c, d, e = driver.insert_jobs(
        [
            new_job("a", priority=0, run_at=early),
            new_job("b", priority=5, run_at=late),
            new_job("c", priority=5, run_at=early),
            new_job("d", priority=0, run_at=early),
            new_job("e", priority=5, run_at=early),
        ]
    )
    assert driver.promote_due() == 5
    first = claim(driver, "t1", limit=2)
    assert [job.id for job in first] == [c.id, e.id]  # 5 first; the earlier run_at; then id
    rest = claim(driver, "t2", limit=10)
    assert [job.id for job in rest] == [b.id, a.id, d.id]
    assert claim(driver, "t3") == []


def test_a_claimed_row_is_executing_under_the_lease(driver: Driver, raw: RawSql) -> None:
    [job] = driver.insert_jobs([new_job(payload={"x": 1}, max_attempts=3, timeout=1.5)])
    before = now()
    [claimed] = claim(driver, "tok", worker="w-9", lease=30)
    assert claimed.id == job.id
    assert (claimed.status, claimed.lease_token, claimed.locked_by) == (
        JobStatus.EXECUTING,
        "tok",
        "w-9",
    )
    assert (claimed.attempts, claimed.max_attempts, claimed.payload, claimed.timeout) == (
        1,
        3,
        {"x": 1},
        1.5,
    )
    assert claimed.locked_until is not None
    assert before + timedelta(seconds=28) < claimed.locked_until < now() + timedelta(seconds=32)
    assert claimed.started_at is None
    stored = driver.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.lease_token, stored.locked_by, stored.attempts) == (
        JobStatus.EXECUTING,
        "tok",
        "w-9",
        1,
    )
    assert stored.started_at is None
    assert stored.locked_until == claimed.locked_until
    assert stored.updated_at == claimed.updated_at  # when the claim took it
    assert raw.scalar("SELECT started_at FROM queue_jobs WHERE id = %s", (job.id,)) is None


def test_claim_respects_its_limit(driver: Driver) -> None:
    driver.insert_jobs([new_job(f"n{i}") for i in range(5)])
    assert len(claim(driver, "t1", limit=1)) == 1
    assert len(claim(driver, "t2", limit=3)) == 3
    assert len(claim(driver, "t3", limit=3)) == 1
    assert driver.count_by_status() == {"executing": 5}


def test_nothing_claimable_claims_nothing(driver: Driver) -> None:
    assert claim(driver) == []
    driver.set_group_paused("p", True)
    [later, paused] = driver.insert_jobs([new_job(delay=60), new_job(group="p")])
    assert claim(driver) == []  # a delayed task not yet due, a paused group's task
    assert driver.promote_due() == 0
    assert claim(driver) == []
    assert status_of(driver, later.id) == "delayed"
    assert status_of(driver, paused.id) == "paused"


def test_claim_in_groups(driver: Driver) -> None:
    jobs = driver.insert_jobs(
        [
            new_job("g1", group="g1"),
            new_job("g2", group="g2"),
            new_job("none"),
            new_job("g3", group="g3"),
        ]
    )
    g1, g2, _, g3 = (job.id for job in jobs)
    assert claim(driver, "t0", groups=()) == []  # no group to claim from
    assert claim(driver, "t0", groups=("nope",)) == []
    assert [job.id for job in claim(driver, "t1", groups=("g1",))] == [g1]
    assert sorted(job.id for job in claim(driver, "t2", groups=("g2", "g3", "g1"))) == [g2, g3]
    assert [job.name for job in claim(driver, "t3")] == ["none"]  # None: any group, or none


def test_a_paused_group_is_not_claimed_and_comes_back_on_resume(driver: Driver) -> None:
    a, b = driver.insert_jobs([new_job("a", group="g"), new_job("b", group="h")])
    assert driver.set_group_paused("g", True) == 1
    assert [job.id for job in claim(driver, "t1")] == [b.id]
    assert claim(driver, "t2", groups=("g",)) == []
    assert driver.set_group_paused("g", False) == 1
    assert [job.id for job in claim(driver, "t3", groups=("g",))] == [a.id]


def test_a_waiting_task_of_a_paused_group_is_never_claimed(driver: Driver, raw: RawSql) -> None:
    """A task left waiting in a paused group (an insert that raced the pause): the claim passes
    over it and promote_due pauses it."""
    [job, other] = driver.insert_jobs([new_job("p", group="g", priority=9), new_job("other")])
    driver.set_group_paused("g", True)
    raw.query("UPDATE queue_jobs SET status = 'waiting' WHERE id = %s", (job.id,))
    claimed = claim(driver, "t1", limit=10)
    assert [j.id for j in claimed] == [other.id]
    assert status_of(driver, job.id) == "waiting"
    assert driver.promote_due() == 0  # it counts the tasks that fell due, not these
    assert status_of(driver, job.id) == "paused"


def test_promote_due_wakes_only_what_fell_due(driver: Driver) -> None:
    due, not_yet, waiting = driver.insert_jobs(
        [new_job("due", run_at=ago(1)), new_job("later", delay=60), new_job("now")]
    )
    assert driver.promote_due() == 1
    assert [status_of(driver, j.id) for j in (due, not_yet, waiting)] == [
        "waiting",
        "delayed",
        "waiting",
    ]
    assert driver.promote_due() == 0


def test_mark_started_marks_only_what_is_held_under_its_token(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("a"), new_job("b"), new_job("c")])
    a, b = claim(driver, "T", limit=2)
    [c] = claim(driver, "U")
    assert driver.mark_started([]) == 0
    assert driver.mark_started([(a.id, "T")]) == 1
    first = driver.get_job(a.id)
    assert first is not None and first.started_at is not None
    assert driver.mark_started([(b.id, "wrong"), (c.id, "T")]) == 0  # each under its own token
    assert driver.get_job(b.id).started_at is None  # type: ignore[union-attr]
    assert driver.get_job(c.id).started_at is None  # type: ignore[union-attr]
    # every task still held counts, marked before or not; the first start is kept
    assert driver.mark_started([(a.id, "T"), (b.id, "T"), (c.id, "U")]) == 3
    assert driver.get_job(a.id).started_at == first.started_at  # type: ignore[union-attr]
    driver.give_back(c)
    assert driver.mark_started([(c.id, "U")]) == 0  # no longer executing
    where = "status = 'executing' AND started_at IS NOT NULL"
    assert raw.scalar(f"SELECT COUNT(*) FROM queue_jobs WHERE {where}") == 2


def test_heartbeat_renews_only_the_leases_it_names(driver: Driver) -> None:
    driver.insert_jobs([new_job("a"), new_job("b"), new_job("c")])
    a, b, c = claim(driver, "T", limit=3, lease=-60)  # run out already
    assert driver.heartbeat(60, []) == 0
    assert driver.heartbeat(60, [(b.id, "wrong")]) == 0
    assert driver.heartbeat(60, [(a.id, "T")]) == 1
    renewed = driver.get_job(a.id)
    assert renewed is not None and renewed.locked_until is not None
    assert renewed.locked_until > now() + timedelta(seconds=55)
    rescued = driver.rescue_expired("lost", "lost, unstarted")
    assert sorted(int(row["id"]) for row in rescued) == [b.id, c.id]
    assert status_of(driver, a.id) == "executing"
    assert driver.heartbeat(60, [(b.id, "T")]) == 0  # no longer executing


def test_heartbeat_does_not_renew_a_lease_under_another_tasks_token(
    backend: str, driver: Driver, request: pytest.FixtureRequest
) -> None:
    """Each (id, lease_token) pair is its own fence: a worker that holds task a under T and b
    under U renews neither a under U nor b under T."""
    driver.insert_jobs([new_job("a"), new_job("b")])
    [a] = claim(driver, "T", limit=1, lease=-60)
    [b] = claim(driver, "U", limit=1, lease=-60)
    assert driver.heartbeat(60, [(a.id, "U"), (b.id, "T")]) == 0


def test_release_claim_gives_back_uncounted_what_a_token_holds(driver: Driver) -> None:
    driver.set_group_paused("p", True)
    driver.insert_jobs([new_job("a"), new_job("b"), new_job("c")])
    a, b = claim(driver, "T", limit=2)
    [c] = claim(driver, "U")
    # a task of a paused group held under T (claimed before the pause)
    [d] = driver.insert_jobs([new_job("d", group="q")])
    [d] = claim(driver, "T", groups=("q",))
    driver.set_group_paused("q", True)
    assert driver.release_claim("T") == 3
    for job, status in ((a, "waiting"), (b, "waiting"), (d, "paused")):
        stored = driver.get_job(job.id)
        assert stored is not None
        assert (stored.status.value, stored.attempts, stored.lease_token, stored.locked_by) == (
            status,
            0,
            None,
            None,
        )
        assert stored.locked_until is None
    assert status_of(driver, c.id) == "executing"
    assert driver.release_claim("T") == 0
    assert driver.release_claim("nobody's") == 0


def test_any_waiting(driver: Driver) -> None:
    E = ["e"]  # noqa: N806 - the worker's executors
    assert driver.any_waiting(None, E) is False
    driver.insert_jobs([new_job("later", delay=60), new_job("g", group="g", delay=60)])
    assert driver.any_waiting(None, E) is False  # delayed tasks do not count
    [h] = driver.insert_jobs([new_job("h", group="h")])
    assert driver.any_waiting(None, E) is True
    assert driver.any_waiting(["h"], E) is True
    assert driver.any_waiting(["g"], E) is False
    assert driver.any_waiting([], E) is False
    driver.set_group_paused("h", True)
    assert driver.any_waiting(None, E) is False
    assert driver.any_waiting(["h"], E) is False
    driver.set_group_paused("h", False)
    claim(driver)
    assert status_of(driver, h.id) == "executing"
    assert driver.any_waiting(None, E) is False  # executing does not count either
    driver.insert_jobs([new_job("free")])
    assert driver.any_waiting(None, E) is True
    assert driver.any_waiting(["h", "g"], E) is False  # a task without a group is in none
    assert driver.any_waiting(None, ["other"]) is False  # a task of another executor
    assert driver.any_waiting(None, []) is False


def test_recently_prefetched(driver: Driver) -> None:
    assert driver.recently_prefetched(60, None, "w2") is False
    driver.insert_jobs([new_job("a", group="g"), new_job("b", group="g")])
    [a] = claim(driver, "T", worker="w1", limit=1)
    assert driver.recently_prefetched(60, None, "w2") is True  # w1's, claimed just now
    assert driver.recently_prefetched(60, ["g"], "w2") is True
    assert driver.recently_prefetched(60, ["other"], "w2") is False
    assert driver.recently_prefetched(60, [], "w2") is False
    assert driver.recently_prefetched(60, None, "w1") is False  # its own are not counted
    assert driver.recently_prefetched(-1, None, "w2") is False  # not that recently
    driver.mark_started([(a.id, "T")])
    assert driver.recently_prefetched(60, None, "w2") is False  # it runs: not in a buffer
