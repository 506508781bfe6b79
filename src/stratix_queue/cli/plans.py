"""stratix-queue plans list|show|resume|pause|abort: the bulk retries and discards that
``failed retry --all`` and ``failed discard --all`` run as plans."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stratix_queue.cli.common import (
    State,
    console,
    json_option,
    pass_state,
    plain,
    print_json,
    table,
    when,
)
from stratix_queue.cli.failed_actions import actor_options, print_outcome, run_with_progress
from stratix_queue.cli.root import cli

if TYPE_CHECKING:
    from stratix_queue.records import Plan

PLAN_COLUMNS = [
    "id",
    "action",
    "status",
    "done",
    "skipped",
    "pending",
    "actor",
    "updated",
    "command",
]


@cli.group(epilog="Example: stratix-queue plans list")
def plans() -> None:
    """Bulk retries and discards: list, show, resume, pause, abort."""


def _row(plan: Plan) -> list[object]:
    return [
        plan.id,
        plan.action,
        plan.status,
        plan.done,
        plan.skipped,
        plan.pending,
        plan.actor,
        when(plan.updated_at),
        plan.command,
    ]


@plans.command("list", epilog="Example: stratix-queue plans list --limit 10")
@click.option("--limit", type=click.IntRange(0, 10_000), default=20, show_default=True)
@json_option
@pass_state
def plans_list(state: State, limit: int, as_json: bool) -> None:
    """Plans, newest first."""
    found = state.queue.list_plans(limit)
    if as_json:
        print_json(found)
        return
    table(f"{len(found)} plan(s)", PLAN_COLUMNS, [_row(plan) for plan in found])


@plans.command("show", epilog="Example: stratix-queue plans show 3 --skipped")
@click.argument("plan_id", type=int)
@click.option("--skipped", is_flag=True, help="Also list the ids skipped (first 1000).")
@json_option
@pass_state
def plans_show(state: State, plan_id: int, skipped: bool, as_json: bool) -> None:
    """One plan: its filter, progress and (--skipped) the tasks it skipped."""
    plan = state.queue.get_plan(plan_id)
    skipped_ids = state.queue.plan_skipped_ids(plan_id) if skipped else None
    if as_json:
        print_json({**plain(plan), "pending": plan.pending, "skipped_ids": skipped_ids})
        return
    rows: list[list[object]] = [
        ["action", plan.action],
        ["status", plan.status],
        ["command", plan.command],
        ["total", plan.total],
        ["done", plan.done],
        ["skipped", plan.skipped],
        ["pending", plan.pending],
        ["rate", "-" if plan.rate is None else f"{plan.rate:g}/s"],
        ["batch size", plan.batch_size],
        ["actor", plan.actor],
        ["reason", plan.reason or "-"],
        ["created", when(plan.created_at)],
        ["updated", when(plan.updated_at)],
    ]
    table(f"plan #{plan.id}", ["field", "value"], rows)
    if skipped_ids is not None:
        console.print(f"skipped: {', '.join(map(str, skipped_ids)) or '-'}")


@plans.command("resume", epilog="Example: stratix-queue plans resume 3")
@click.argument("plan_id", type=int)
@actor_options
@pass_state
def plans_resume(state: State, plan_id: int, actor: str | None, reason: str | None) -> None:
    """Run a paused plan (or one whose runner stopped) from where it was."""
    queue = state.queue
    plan = queue.get_plan(plan_id)
    run_with_progress(
        state,
        plan,
        lambda report: queue.resume_plan(plan_id, report, actor=actor, reason=reason),
    )


@plans.command("pause", epilog="Example: stratix-queue plans pause 3")
@click.argument("plan_id", type=int)
@actor_options
@pass_state
def plans_pause(state: State, plan_id: int, actor: str | None, reason: str | None) -> None:
    """Pause a plan after the batch in flight."""
    print_outcome(state.queue.pause_plan(plan_id, actor=actor, reason=reason))


@plans.command("abort", epilog="Example: stratix-queue plans abort 3")
@click.argument("plan_id", type=int)
@actor_options
@pass_state
def plans_abort(state: State, plan_id: int, actor: str | None, reason: str | None) -> None:
    """End a plan for good after the batch in flight; its pending tasks stay failed."""
    print_outcome(state.queue.abort_plan(plan_id, actor=actor, reason=reason))
