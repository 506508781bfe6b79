"""Maintenance (maintenance.py) on the in-memory driver: the heartbeat renews the leases the
worker holds (and only those), the rescue takes back what an expired lease held. Its duties are
driven one at a time (``heartbeat()``, ``rescue()``), as its thread's tick calls them; one test
runs the thread itself with short intervals."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from stratix_queue.backends.driver import Driver
from stratix_queue.maintenance import LOST_MESSAGE, UNSTARTED_MESSAGE, Maintenance
from stratix_queue.worker_options import LeaseSettings
from tests.unit.conftest import add, claim, stored


def _maintenance(
    driver: Driver,
    held: Callable[[], list[tuple[int, str]]],
    leases: LeaseSettings | None = None,
) -> Maintenance:
    return Maintenance(
        driver,
        "w1",
        2,
        None,
        leases or LeaseSettings(lease_seconds=30.0, heartbeat_seconds=10.0, rescue_interval=10.0),
        held=held,
        mark_starts=lambda: False,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def test_the_heartbeat_renews_the_held_leases_only(driver: Driver) -> None:
    add(driver, 3)
    a, b, c = claim(driver, "T", limit=3, lease=-60)  # every lease ran out a minute ago
    held = [(a.id, "T"), (b.id, "another-lease")]  # b is named under a token it is not held by
    maintenance = _maintenance(driver, lambda: held)
    assert maintenance.heartbeat() is True
    renewed = stored(driver, a).locked_until
    assert renewed is not None and renewed > _now() + timedelta(seconds=25)
    for job in (b, c):
        until = stored(driver, job).locked_until
        assert until is not None and until < _now() - timedelta(seconds=50)
    # and the worker's registry row: heartbeat_worker found none, so it registered itself
    assert [row["id"] for row in driver.list_workers()] == ["w1"]
    # the rescue then takes back exactly the two leases the heartbeat did not renew
    maintenance.rescue()
    assert [stored(driver, job).status.value for job in (a, b, c)] == [
        "executing",
        "waiting",
        "waiting",
    ]


def test_the_rescue_takes_back_an_expired_lease(driver: Driver) -> None:
    add(driver, 3, max_attempts=2)
    started, unstarted, live = claim(driver, "T", limit=2, lease=-1) + claim(driver, "U")
    assert driver.mark_started([(started.id, "T")]) == 1  # it ran: its attempt counts
    maintenance = _maintenance(driver, lambda: [])
    maintenance.rescue()
    back = stored(driver, started)
    assert (back.status.value, back.attempts, back.error_code, back.error_message) == (
        "waiting",
        1,
        "WORKER_LOST",
        LOST_MESSAGE,
    )
    assert back.lease_token is None and back.locked_until is None
    never_ran = stored(driver, unstarted)
    assert (never_ran.status.value, never_ran.attempts, never_ran.error_message) == (
        "waiting",
        0,
        UNSTARTED_MESSAGE,
    )
    assert (stored(driver, live).status.value, stored(driver, live).lease_token) == (
        "executing",
        "U",
    )
    [attempt] = driver.list_attempt_errors(started.id)  # the lost attempt joins the history
    assert attempt["error_code"] == "WORKER_LOST"
    # its second and last attempt lost too: failed
    [again] = claim(driver, "V", limit=1, lease=-1)  # the first by id
    assert (again.id, again.attempts) == (started.id, 2)
    driver.mark_started([(again.id, "V")])
    maintenance.rescue()
    assert (stored(driver, again).status.value, stored(driver, again).error_code) == (
        "failed",
        "WORKER_LOST",
    )


def test_the_maintenance_thread_renews_and_rescues_on_its_own(driver: Driver) -> None:
    add(driver, 2)
    [kept] = claim(driver, "T", limit=1, lease=0.5)  # held: renewed to 1 s every 50 ms
    [dropped] = claim(driver, "U", limit=1, lease=0.2)  # not held: runs out in 0.2 s
    leases = LeaseSettings(lease_seconds=1.0, heartbeat_seconds=0.05, rescue_interval=0.05)
    maintenance = _maintenance(driver, lambda: [(kept.id, "T")], leases)
    maintenance.start()  # registers the worker, rescues once, then ticks every 50 ms
    try:
        assert [row["id"] for row in driver.list_workers()] == ["w1"]
        deadline = time.monotonic() + 5.0
        while stored(driver, dropped).status.value == "executing":
            assert time.monotonic() < deadline, "the expired lease was never rescued"
            time.sleep(0.02)
        time.sleep(0.4)  # past the end of kept's first lease
        assert stored(driver, kept).status.value == "executing"  # renewed all along
        until = stored(driver, kept).locked_until
        assert until is not None and until > _now()
    finally:
        maintenance.stop()
    assert driver.list_workers() == []  # unregistered on stop
