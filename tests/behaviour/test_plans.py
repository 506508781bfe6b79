"""Bulk plans, discard, cancel and payload fixes through QueueService, on every backend: two
runners of one plan, a paced runner (fake clock), pause, abort and resume from another
'process', dry-run conflicts, the audit and a task's history."""

from __future__ import annotations

import getpass
import threading
from collections.abc import Callable

import pytest

from stratix_queue import QueueService
from stratix_queue.backends.action_args import Audit
from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.errors import InvalidInputError, PlanError
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.plans import PlanRunner, parse_rate
from stratix_queue.records import Plan
from tests import dbs
from tests.ledger import kept_counts, recount

ERROR = {"message": "boom", "stack": "Traceback ...\nValueError: boom", "code": "E_BOOM"}


def _failed(queue: QueueService, n: int, group: str | None = None, code: str = "E") -> list[int]:
    ids = []
    for i in range(n):
        job = queue.add_task(name=f"t{i}", executor="e", group=group, payload={"i": i})
        assert queue.repository.mark_as_failed(job, {**ERROR, "code": code})
        ids.append(job.id)
    return ids


def _statuses(db_url: str) -> dict[int, str]:
    return {int(i): s for i, s in dbs.query(db_url, "SELECT id, status FROM queue_jobs")}


def _check_counts(queue: QueueService, db_url: str) -> None:
    assert kept_counts(queue.backend) == recount(lambda sql: dbs.query(db_url, sql))


def test_two_runners_of_one_plan_act_on_each_task_once(
    queue: QueueService, make_queue: Callable[[], QueueService], db_url: str
) -> None:
    ids = _failed(queue, 40)
    plan = queue.create_plan("retry", batch_size=3, actor="ops")
    seen: list[list[int]] = [[], []]
    others = [make_queue(), make_queue()]
    assert others[0].backend.change_plan(plan.id, ("planned",), "running", lambda r: _who())

    def runner(k: int) -> None:
        after = 0
        while True:
            step = others[k].backend.plan_batch(plan.id, after, 3)
            seen[k] += [int(r["id"]) for r in step.acted]
            assert step.plan is not None
            if step.plan["status"] != "running":
                return
            after = step.last_id

    threads = [threading.Thread(target=runner, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    acted = seen[0] + seen[1]
    assert sorted(acted) == ids  # each once, none twice
    done = queue.get_plan(plan.id)
    assert (done.status, done.done, done.skipped) == ("done", 40, 0)
    assert set(_statuses(db_url).values()) == {"waiting"}
    _check_counts(queue, db_url)


def _who() -> Audit:
    return Audit("ops", "plan_start")


def test_a_paced_runner_sleeps_between_batches(queue: QueueService) -> None:
    _failed(queue, 25)
    plan = queue.create_plan("retry", rate=parse_rate("600/m"), actor="ops")
    assert plan.rate == 10.0
    now = [0.0]
    slept: list[float] = []
    sizes: list[int] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    queue.backend.change_plan(plan.id, ("planned",), "running", lambda r: _who())
    runner = PlanRunner(queue.backend, clock=lambda: now[0], sleep=sleep)
    last = [0]

    def progress(p: Plan) -> None:
        sizes.append(p.done - last[0])
        last[0] = p.done

    done = runner.run(plan.id, progress)
    assert done.status == "done" and done.done == 25
    assert max(sizes) <= 10  # a second's worth per batch
    assert sum(slept) == pytest.approx(2.0)  # 20 tasks before the last batch, at 10/s


def test_pause_from_elsewhere_stops_the_runner_and_resume_finishes(
    queue: QueueService, make_queue: Callable[[], QueueService], db_url: str
) -> None:
    ids = _failed(queue, 6)
    other = make_queue()
    plan = queue.create_plan("discard", batch_size=2, actor="ann", reason="junk")

    def pause_after_first(p: Plan) -> None:
        if p.done == 2 and p.status == "running":
            other.pause_plan(p.id, actor="bob", reason="wait")

    paused = queue.run_plan(plan.id, pause_after_first)
    assert (paused.status, paused.done) == ("paused", 2)
    with pytest.raises(PlanError, match="paused"):
        queue.pause_plan(plan.id)
    resumed = other.resume_plan(plan.id, actor="bob")
    assert (resumed.status, resumed.done, resumed.skipped) == ("done", 6, 0)
    assert not set(ids) & set(_statuses(db_url))
    _check_counts(queue, db_url)
    entries = [e for e in reversed(queue.list_audit()) if e.plan_id == plan.id]
    audit = [(e.action, e.actor, e.reason) for e in entries]
    assert audit == [
        ("plan_create", "ann", "junk"),
        ("plan_start", getpass.getuser(), None),
        ("plan_pause", "bob", "wait"),
        ("plan_resume", "bob", None),
        ("plan_done", "ann", "junk"),
    ]


def test_abort_stops_for_good(queue: QueueService, make_queue: Callable[[], QueueService]) -> None:
    ids = _failed(queue, 5)
    plan = queue.create_plan("retry", batch_size=2)
    other = make_queue()

    def abort_after_first(p: Plan) -> None:
        if p.status == "running":
            other.abort_plan(p.id)

    aborted = queue.run_plan(plan.id, abort_after_first)
    assert (aborted.status, aborted.done, aborted.pending) == ("aborted", 2, 3)
    with pytest.raises(PlanError, match="aborted"):
        queue.resume_plan(plan.id)
    assert [queue.get_task(i).status.value for i in ids[2:]] == ["failed"] * 3  # type: ignore[union-attr]


def test_dry_run_counts_samples_and_names_conflicts(queue: QueueService) -> None:
    _failed(queue, 3, group="reports")
    _failed(queue, 2, group="billing", code="LookupError")
    queue.pause_group("reports", actor="ann", reason="deploy")
    preview = queue.dry_run("retry")
    assert preview.count == 5 and len(preview.sample) == 5
    [paused] = preview.conflicts
    assert (paused.count, paused.names) == (3, ["reports"])
    assert "paused" in paused.reason
    assert queue.dry_run("discard").conflicts == []  # a discard does not care
    plan = queue.create_plan("retry", FailureFilter.build(code="LookupError"))
    preview = queue.dry_run("discard", FailureFilter.build(group="billing"))
    [pending] = preview.conflicts
    assert (pending.count, pending.names) == (2, [f"#{plan.id} (retry)"])
    assert preview.command == "stratix-queue failed discard --all --group billing"
    with pytest.raises(InvalidInputError):
        queue.dry_run("explode")


def test_discard_and_cancel_say_what_they_left(queue: QueueService, db_url: str) -> None:
    [failed] = _failed(queue, 1)
    waiting = queue.add_task(name="w", executor="e")
    later = queue.add_task(name="d", executor="e", delay=3600)
    result = queue.discard_failed_tasks([failed, waiting.id, 10**12], actor="ann", reason="x")
    assert result.done == [failed]
    assert result.not_done == {waiting.id: "not failed (waiting)", 10**12: "not found"}
    claim = ClaimParams(worker_id="w", lease_token="t", limit=1, lease_seconds=60, groups=None)
    [running] = queue.backend.claim(claim)
    result = queue.cancel_tasks([running.id, later.id, failed])
    assert result.done == [later.id]
    assert "cannot be cancelled" in result.not_done[running.id]
    assert result.not_done[failed] == "not found"
    history = queue.get_task_history(failed)
    assert history.task is None and history.removed is not None
    assert (history.removed.outcome, history.removed.removed_by) == ("discarded", "ann")
    assert history.removed.error_message == "boom"
    _check_counts(queue, db_url)


def test_fix_then_retry_and_the_spec_retry(queue: QueueService, db_url: str) -> None:
    a, b = _failed(queue, 2)
    assert queue.retry_failed_task(a) is True  # the SPEC form still works
    assert queue.retry_failed_task(a) is False
    with pytest.raises(InvalidInputError):
        queue.retry_failed_task(b, payload={"x": object()})
    queue.max_payload_bytes = 20
    with pytest.raises(InvalidInputError, match="limit"):
        queue.retry_failed_task(b, payload={"x": "y" * 50})
    assert queue.get_task(b).status.value == "failed"  # type: ignore[union-attr]
    assert queue.retry_failed_task(b, payload=None, actor="cy", reason="null is a payload")
    fixed = queue.get_task(b)
    assert fixed is not None and fixed.payload is None and fixed.status.value == "waiting"
    history = queue.get_task_history(b)
    assert [p.payload for p in history.payloads] == [{"i": 1}]
    assert [(e.action, e.actor, e.count) for e in history.audit] == [("retry", "cy", 1)]
    queue.edit_payload(b, {"v": 2}, reason="again")
    assert queue.get_task(b).payload == {"v": 2}  # type: ignore[union-attr]
    assert len(queue.get_task_history(b).payloads) == 2
    with pytest.raises(InvalidInputError, match="not found"):
        queue.edit_payload(10**12, 1)
    _check_counts(queue, db_url)
    assert {e.action for e in queue.list_audit()} == {"retry", "edit_payload"}
    assert queue.list_audit(actor="cy")[0].reason == "null is a payload"
    assert queue.list_audit(action="edit_payload", since="1h")[0].actor == getpass.getuser()
