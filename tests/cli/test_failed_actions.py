"""`stratix-queue failed retry|discard`, `tasks cancel`, `plans ...` and `audit`, on every
backend: confirmation, dry runs, plans and their audit rows, text from the database escaped."""

from __future__ import annotations

import getpass

import pytest

from stratix_queue import QueueService
from tests.cli.conftest import Run, make_failed, one_error_line, statuses


def test_discard_all_asks_then_runs_a_plan(run: Run, db_url: str, queue: QueueService) -> None:
    ids = [make_failed(queue, f"f{i}", group="g") for i in range(3)]
    keep = make_failed(queue, "other", code="OTHER")
    refused = run("failed", "discard", "--all", "--code", "E_BOOM", stdin="n\n")
    assert refused.code == 1 and "Discard 3 task(s)?" in refused.err
    assert "3 failed task(s) match" in refused.out and "sample (3)" in refused.out
    assert "same as: stratix-queue failed discard --all --code E_BOOM" in refused.out
    assert queue.list_plans() == []
    agreed = run(
        "failed",
        "discard",
        "--all",
        "--code",
        "E_BOOM",
        "--reason",
        "junk",
        "--actor",
        "ann",
        stdin="y\n",
    )
    assert agreed.code == 0, agreed.err
    [plan] = queue.list_plans()  # ids are not reset between cases on a server
    assert f"plan #{plan.id} done: 3 discarded, 0 skipped" in agreed.out
    assert set(statuses(db_url)) == {keep}
    assert [e.action for e in queue.list_audit()] == ["plan_done", "plan_start", "plan_create"]
    assert {e.actor for e in queue.list_audit()} == {"ann"}
    assert queue.get_task_history(ids[0]).removed is not None


def test_retry_all_dry_run_shows_paused_group_conflict(
    run: Run, db_url: str, queue: QueueService
) -> None:
    make_failed(queue, "a", group="reports")
    make_failed(queue, "b")
    queue.pause_group("reports")
    before = statuses(db_url)
    result = run("failed", "retry", "--all", "--dry-run")
    assert result.code == 0, result.err
    assert "2 failed task(s) match" in result.out
    assert "note: 1 in a paused group" in result.out and "reports" in result.out
    assert statuses(db_url) == before and queue.list_plans() == []


def test_retry_by_id_with_payload_and_audit(run: Run, queue: QueueService) -> None:
    task_id = make_failed(queue, "fx")
    result = run(
        "failed", "retry", str(task_id), "--payload", '{"currency": "GBP"}', "--reason", "typo"
    )
    assert result.code == 0, result.err
    assert "retried: 1 succeeded, 0 failed" in result.out
    job = queue.get_task(task_id)
    assert job is not None and job.payload == {"currency": "GBP"}
    [entry] = run("audit", "--json").json()
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "retry",
        getpass.getuser(),
        "typo",
    )
    assert entry["target"] == f"[{task_id}]" and entry["count"] == 1
    history = run("tasks", "history", str(task_id), "--json").json()
    assert history["payloads"][0]["payload"] == {"name": "fx"}
    one_error_line(run("failed", "retry", "1", "2", "--payload", "{}"), (2,))
    one_error_line(run("failed", "retry", "1", "--rate", "10/s"), (2,))


def test_cancel_refuses_an_executing_task(run: Run, queue: QueueService) -> None:
    waiting = queue.add_task(name="w", executor="e")
    delayed = queue.add_task(name="d", executor="e", delay=60)
    result = run("tasks", "cancel", str(waiting.id), str(delayed.id))
    assert result.code == 0, result.err
    assert "cancelled: 2, not cancelled: 0" in result.out
    running = queue.add_task(name="r", executor="e")
    from stratix_queue.backends.arguments import ClaimParams

    queue.backend.claim(ClaimParams("w", "t", 1, 60.0, None))
    refused = run("tasks", "cancel", str(running.id))
    assert refused.code == 1
    assert "executing: cannot be cancelled" in refused.out
    assert queue.get_task(running.id) is not None


def test_plans_commands(run: Run, queue: QueueService) -> None:
    for i in range(3):
        make_failed(queue, f"f{i}")
    plan = queue.create_plan("retry", batch_size=1, actor="ops")
    listed = run("plans", "list", "--json").json()
    assert [(p["id"], p["status"], p["total"]) for p in listed] == [(plan.id, "planned", 3)]
    paused = run("plans", "pause", str(plan.id))
    assert paused.code == 0 and f"plan #{plan.id} paused" in paused.out
    resumed = run("plans", "resume", str(plan.id))
    assert resumed.code == 0, resumed.err
    assert f"plan #{plan.id} done: 3 retried" in resumed.out
    shown = run("plans", "show", str(plan.id), "--skipped", "--json").json()
    assert (shown["done"], shown["skipped_ids"], shown["pending"]) == (3, [], 0)
    assert "stratix-queue failed retry --all" in run("plans", "show", str(plan.id)).out
    line = one_error_line(run("plans", "abort", str(plan.id)), (1,))
    assert "is done" in line
    one_error_line(run("plans", "show", "999"), (1,))


def test_audit_text_from_the_database_is_escaped(run: Run, queue: QueueService) -> None:
    queue.pause_group("g", actor="eve", reason="\x1b[2Jwiped [bold]x[/bold]")
    text = run("audit")
    assert text.code == 0, text.err
    assert "\x1b" not in text.out and "\\x1b[2Jwiped" in text.out
    assert "[bold]x[/bold]" in text.out
    assert run("audit", "--actor", "nobody", "--json").json() == []
    assert run("audit", "--action", "group_pause", "--json").json()[0]["actor"] == "eve"


def test_ctrl_c_pauses_the_plan_and_says_how_to_resume(
    run: Run, queue: QueueService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4):
        make_failed(queue, f"f{i}")

    def interrupted(self: QueueService, plan_id: int, progress: object) -> None:
        self.backend.plan_batch(plan_id, 0, 2)  # one batch commits, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(QueueService, "_run_plan", interrupted)
    result = run("failed", "retry", "--all", "--yes", "--batch-size", "2")
    line = one_error_line(result, (1,))
    monkeypatch.undo()
    [plan] = queue.list_plans()
    assert f"plan #{plan.id} paused after 2 of 4" in line
    assert f"stratix-queue plans resume {plan.id}" in line
    assert (plan.status, plan.done) == ("paused", 2)
    resumed = run("plans", "resume", str(plan.id))
    assert f"plan #{plan.id} done: 4 retried, 0 skipped" in resumed.out
