"""The operator actions and plan batches, called on the driver directly: discard, cancel, retry
with a new payload, payload edits, plans run batch by batch (with a runner dropped between two
batches); the failure ledger's kept counts equal a recount after each, and each writes its
audit row."""

from __future__ import annotations

from typing import Any

from stratix_queue import Job
from stratix_queue.backends.action_args import Audit, NewPlan, ids_target
from stratix_queue.backends.driver import Driver
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.validation import error_data
from tests.backend.conftest import RawSql, claim, count, new_job, status_of
from tests.ledger import kept_counts, recount

WHO = Audit(actor="ops", action="test", reason="why")


def _failed(driver: Driver, n: int, **spec: Any) -> list[int]:
    """n failed tasks, claimed and failed one by one (code E<i % 2>)."""
    ids = []
    for i in range(n):
        driver.insert_jobs([new_job(f"t{i}", **spec)])
        [job] = claim(driver, f"tok-{spec.get('executor', 'e')}-{i}-{len(ids)}")
        assert driver.mark_as_failed(job, error_data(f"boom {i}", "stack", f"E{i % 2}"))
        ids.append(job.id)
    return ids


def _check(driver: Driver, raw: RawSql) -> None:
    assert kept_counts(driver) == recount(raw.query)


def _audit_rows(raw: RawSql) -> list[tuple[Any, ...]]:
    return raw.query(
        "SELECT actor, action, target, count, reason, plan_id FROM queue_audit ORDER BY id"
    )


def test_discard_keeps_the_row_and_its_error_in_queue_removed(driver: Driver, raw: RawSql) -> None:
    ids = _failed(driver, 3, executor="convert", group="fx")
    [waiting] = driver.insert_jobs([new_job("w")])
    rows = driver.discard_tasks(
        [ids[0], ids[2], waiting.id, 10**9], Audit("ann", "discard", reason="dup")
    )
    assert sorted(int(r["id"]) for r in rows) == [ids[0], ids[2]]
    _check(driver, raw)
    assert status_of(driver, ids[0]) is None and status_of(driver, waiting.id) == "waiting"
    removed = raw.query(
        "SELECT id, outcome, status, error_message, error_code, removed_by, reason "
        "FROM queue_removed ORDER BY id"
    )
    assert removed == [
        (ids[0], "discarded", "failed", "boom 0", "E0", "ann", "dup"),
        (ids[2], "discarded", "failed", "boom 2", "E0", "ann", "dup"),
    ]
    asked = sorted([ids[0], ids[2], waiting.id, 10**9])
    assert _audit_rows(raw) == [("ann", "discard", ids_target(asked), 2, "dup", None)]
    assert driver.discard_tasks([ids[0]], WHO) == []  # gone: nothing twice
    _check(driver, raw)


def test_cancel_takes_waiting_delayed_paused_not_executing_nor_failed(
    driver: Driver, raw: RawSql
) -> None:
    [failed] = _failed(driver, 1)
    driver.insert_jobs([new_job("run", group="g")])
    [running] = claim(driver, "run")
    waiting, delayed, paused = driver.insert_jobs(
        [new_job("w", group="g"), new_job("d", delay=3600), new_job("p", group="held")]
    )
    driver.set_group_paused("held", True)
    ids = [failed, running.id, waiting.id, delayed.id, paused.id]
    rows = driver.cancel_tasks(ids, Audit("bob", "cancel"))
    assert {int(r["id"]): r["status"] for r in rows} == {
        failed: "failed",
        running.id: "executing",
        waiting.id: "waiting",
        delayed.id: "delayed",
        paused.id: "paused",
    }
    assert [status_of(driver, i) for i in ids] == ["failed", "executing", None, None, None]
    outcomes = raw.query("SELECT id, outcome, status FROM queue_removed ORDER BY id")
    assert outcomes == [
        (waiting.id, "cancelled", "waiting"),
        (delayed.id, "cancelled", "delayed"),
        (paused.id, "cancelled", "paused"),
    ]
    rollups = raw.query(
        "SELECT executor, group_name, SUM(cancelled) FROM queue_rollups WHERE bucket = -1 "
        "GROUP BY executor, group_name ORDER BY group_name"
    )
    assert [(e, g, int(n)) for e, g, n in rollups if int(n)] == [
        ("e", "", 1),
        ("e", "g", 1),
        ("e", "held", 1),
    ]
    [entry] = _audit_rows(raw)
    assert entry[:4] == ("bob", "cancel", ids_target(sorted(ids)), 3)
    _check(driver, raw)


def test_retry_with_a_new_payload_keeps_the_old_one(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("fx", payload={"currency": "GPB"})])
    [job] = claim(driver, "a")
    assert driver.mark_as_failed(job, error_data("no rate for GPB", None, "LookupError"))
    rows = driver.retry_tasks([job.id], Audit("cy", "retry", reason="typo"), '{"currency": "GBP"}')
    assert [int(r["id"]) for r in rows] == [job.id]
    _check(driver, raw)
    again = driver.get_job(job.id)
    assert again is not None and again.status.value == "waiting"
    assert again.payload == {"currency": "GBP"}
    [old] = driver.payload_history(job.id)
    assert (old["payload"], old["replaced_by"], old["reason"]) == (
        '{"currency": "GPB"}',
        "cy",
        "typo",
    )
    assert [int(r["attempt"]) for r in driver.list_attempt_errors(job.id)] == [1]
    # Not failed any more: a second retry with a payload changes nothing.
    assert driver.retry_tasks([job.id], Audit("dan", "retry"), '{"x": 1}') == []
    assert len(driver.payload_history(job.id)) == 1
    assert [(r[0], r[3]) for r in _audit_rows(raw)] == [("cy", 1), ("dan", 0)]
    assert [e["actor"] for e in driver.audit_of_task(job.id)] == ["cy", "dan"]
    assert driver.audit_of_task(job.id + 1) == []


def test_edit_payload_of_a_task_that_is_not_executing(driver: Driver, raw: RawSql) -> None:
    waiting, held = driver.insert_jobs([new_job("w", payload=1), new_job("x", payload=2)])
    [running] = claim(driver, "r", limit=1)
    other = held if running.id == waiting.id else waiting
    assert driver.edit_payload(other.id, "[3]", WHO) == "waiting"
    assert driver.edit_payload(running.id, "[4]", WHO) == "executing"
    assert driver.edit_payload(10**9, "[5]", WHO) is None
    assert (driver.get_job(other.id) or running).payload == [3]
    assert (driver.get_job(running.id) or other).payload == running.payload
    assert count(raw, "queue_payload_history") == 1
    assert count(raw, "queue_audit") == 1


def _plan(driver: Driver, action: str, failures: FailureFilter, batch: int = 2) -> int:
    plan = NewPlan(action, failures, f"failed {action} --all", None, batch, "ops", "why")
    plan_id = driver.create_plan(plan, Audit("ops", "plan_create", plan.command, "why"))
    before = driver.change_plan(plan_id, ("planned",), "running", lambda row: WHO)
    assert before is not None and before["status"] == "planned"
    return plan_id


def _run(driver: Driver, plan_id: int, after: int = 0, batch: int = 2) -> list[Job | int]:
    """Batches until the plan stops running; the ids acted on."""
    acted: list[Any] = []
    while True:
        step = driver.plan_batch(plan_id, after, batch)
        acted += [int(r["id"]) for r in step.acted]
        assert step.plan is not None
        if step.plan["status"] != "running":
            return acted
        after = step.last_id


def test_a_plan_snapshots_once_and_a_dropped_runner_resumes_exactly(
    driver: Driver, raw: RawSql
) -> None:
    ids = _failed(driver, 7, executor="convert")
    _failed(driver, 2, executor="other")
    plan_id = _plan(driver, "retry", FailureFilter(executor="convert"))
    plan = driver.get_plan(plan_id)
    assert plan is not None and int(plan["total"]) == 7
    late = _failed(driver, 1, executor="convert")  # failed after the snapshot: not in the plan

    first = driver.plan_batch(plan_id, 0, 2)  # then the runner is dropped
    assert [int(r["id"]) for r in first.acted] == ids[:2]
    _check(driver, raw)
    # Meanwhile another operator retries one task and discards another.
    driver.retry_tasks([ids[3]], WHO)
    driver.discard_tasks([ids[5]], WHO)

    acted = _run(driver, plan_id)  # a new runner, from the start
    assert acted == [ids[2], ids[4], ids[6]]
    plan = driver.get_plan(plan_id)
    assert plan is not None
    assert (plan["status"], int(plan["done"]), int(plan["skipped"])) == ("done", 5, 2)
    assert driver.plan_item_ids(plan_id, "skipped", 10) == [ids[3], ids[5]]
    assert driver.plan_item_ids(plan_id, "done", 10) == [*ids[:3], ids[4], ids[6]]
    assert status_of(driver, late[0]) == "failed"
    _check(driver, raw)
    actions = [r[1] for r in _audit_rows(raw) if r[5] == plan_id]
    assert actions == ["plan_create", "test", "plan_done"]
    assert _run(driver, plan_id) == []  # done: a further runner does nothing


def test_a_discard_plan_and_a_paused_one(driver: Driver, raw: RawSql) -> None:
    ids = _failed(driver, 5)
    plan_id = _plan(driver, "discard", FailureFilter(code="E0"))
    driver.plan_batch(plan_id, 0, 2)
    driver.change_plan(plan_id, ("running",), "paused", lambda row: WHO)
    assert _run(driver, plan_id) == []  # paused: the runner stops at once
    driver.change_plan(plan_id, ("paused",), "running", lambda row: WHO)
    _run(driver, plan_id)
    assert [status_of(driver, i) for i in ids] == [None, "failed", None, "failed", None]
    assert count(raw, "queue_removed", "outcome = 'discarded'") == 3
    _check(driver, raw)


def test_dry_run_reads(driver: Driver, raw: RawSql) -> None:
    ids = _failed(driver, 3, group="g")
    _failed(driver, 1, group="h")
    driver.set_group_paused("g", True)
    in_paused, in_plans = driver.failed_conflicts(FailureFilter())
    assert [(r["group_name"], int(r["count"])) for r in in_paused] == [("g", 3)]
    assert in_plans == []
    plan_id = _plan(driver, "retry", FailureFilter(group="g"))
    _, in_plans = driver.failed_conflicts(FailureFilter(code="E0"))
    assert [(int(r["plan_id"]), r["action"], int(r["count"])) for r in in_plans] == [
        (plan_id, "retry", 2)
    ]
    sample = driver.failed_sample(FailureFilter(group="g"), 2)
    assert [job.id for job in sample] == [ids[2], ids[1]]
