"""Flow control in the driver (flow_ops.py, flow.sql): limits move a group's tasks to its gate,
the open claim never takes them, the gated claim gives no more than a group's room (executing
tasks, recorded starts, a breaker's one probe), and which executors wait and live."""

from __future__ import annotations

import json

from stratix_queue import Job
from stratix_queue.backends.arguments import ClaimParams, WorkerRecord
from stratix_queue.backends.driver import Driver
from tests.backend.conftest import RawSql, claim, new_job, status_of


def _gated(
    driver: Driver, limit: int = 10, token: str = "g1", executors: tuple[str, ...] = ("e",)
) -> list[Job] | None:
    return driver.claim_gated(ClaimParams("w1", token, limit, 60.0, None, executors))


def _gates(raw: RawSql) -> dict[str, str]:
    return {
        str(name): str(gate) for name, gate in raw.query("SELECT job_name, gate FROM queue_jobs")
    }


def test_limits_move_a_groups_tasks_to_its_gate_and_back(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("a", group="g"), new_job("b", group="h"), new_job("c")])
    assert _gates(raw) == {"a": "", "b": "", "c": ""}
    assert driver.set_group_limits("g", 2, None, None) == 1
    assert _gates(raw) == {"a": "g", "b": "", "c": ""}
    driver.insert_jobs([new_job("d", group="g")])  # added after: at its gate at once
    assert _gates(raw)["d"] == "g"
    assert driver.set_group_limits("g", None, None, None) == 2  # cleared: back to the open lane
    assert set(_gates(raw).values()) == {""}


def test_the_open_claim_never_takes_a_limited_groups_task(driver: Driver, raw: RawSql) -> None:
    [a, b] = driver.insert_jobs([new_job("a", group="g"), new_job("b")])
    driver.set_group_limits("g", 5, None, None)
    raw.query("UPDATE queue_jobs SET gate = '' WHERE id = %s", (a.id,))  # an insert that raced
    assert [job.id for job in claim(driver)] == [b.id]
    assert status_of(driver, a.id) == "waiting"
    assert driver.fix_gates() == 1  # maintenance puts it at its gate
    assert [job.id for job in _gated(driver) or []] == [a.id]


def test_the_gated_claim_gives_no_more_than_the_concurrency_room(driver: Driver) -> None:
    driver.insert_jobs([new_job(f"t{i}", group="g") for i in range(5)] + [new_job("free")])
    driver.set_group_limits("g", 2, None, None)
    first = _gated(driver, token="g1")
    assert first is not None and len(first) == 2 and {j.group for j in first} == {"g"}
    assert _gated(driver, token="g2") == []  # full: tasks wait, no room
    driver.move_to_success(first[0], 5)
    [third] = _gated(driver, token="g3") or []
    assert third.group == "g"
    assert _gated(driver, executors=("other",)) is None  # nothing of these executors waits


def test_the_gated_claim_counts_recorded_starts_for_a_rate(driver: Driver) -> None:
    driver.insert_jobs([new_job(f"t{i}", group="api") for i in range(5)])
    driver.set_group_limits("api", None, 3, 60.0)
    first = _gated(driver, token="r1") or []
    assert len(first) == 3
    for job in first:  # finished: their starts still count in the window
        driver.move_to_success(job, 1)
    assert _gated(driver, token="r2") == []


def test_a_probing_breaker_lets_one_task_through(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job(f"t{i}", group="b") for i in range(3)])
    raw.query(
        "INSERT INTO queue_groups (group_name, status, breaker_state)"
        " VALUES ('b', 'active', 'probing')"
    )
    driver.set_group_limits("b", None, None, None)  # regates: probing gates the group
    [probe] = _gated(driver, token="p1") or []
    assert raw.scalar("SELECT probe_job_id FROM queue_groups WHERE group_name = 'b'") == probe.id
    assert _gated(driver, token="p2") == []  # one probe only, however many slots


def test_waiting_and_live_executors(driver: Driver) -> None:
    driver.insert_jobs(
        [
            new_job("a", executor="x"),
            new_job("b", executor="y", group="g"),
            new_job("c", executor="z", delay=60),
        ]
    )
    driver.set_group_limits("g", 1, None, None)
    assert driver.waiting_executors() == {"x", "y"}  # in any gate; delayed ones wait for later
    driver.register_worker(WorkerRecord("w1", "h", 1, 4, None, json.dumps(["x", "q"])))
    assert driver.live_executors(60.0) == {"x", "q"}
    driver.register_worker(WorkerRecord("w2", "h", 2, 4, None, None))  # a worker before 007
    assert driver.live_executors(60.0) is None
    driver.unregister_worker("w2")
    assert driver.live_executors(-1.0) == set()  # none beat within the (past) window
