"""stratix-queue audit and tasks history: who did what to the queue, and what is kept
about one task."""

from __future__ import annotations

import json

import click

from stratix_queue.cli.common import (
    State,
    console,
    json_option,
    pass_state,
    print_json,
    table,
    when,
)
from stratix_queue.cli.root import cli
from stratix_queue.cli.tasks import tasks


@cli.command(epilog="Example: stratix-queue audit --since 1d --action discard")
@click.option("--limit", type=click.IntRange(0, 100_000), default=50, show_default=True)
@click.option("--since", help="At or after: a duration ago (2h, 7d) or ISO time.")
@click.option("--action", help="Only this action (retry, discard, cancel, plan_create, ...).")
@click.option("--actor", help="Only this actor.")
@json_option
@pass_state
def audit(
    state: State,
    limit: int,
    since: str | None,
    action: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Operator actions, newest first: when, who, what, how many, why."""
    found = state.queue.list_audit(limit, since, action, actor)
    if as_json:
        print_json(found)
        return
    rows = [
        [
            e.id,
            when(e.at),
            e.actor,
            e.action,
            e.count,
            e.plan_id or "",
            e.target or "",
            e.reason or "",
        ]
        for e in found
    ]
    table(
        f"{len(found)} audit entr{'y' if len(found) == 1 else 'ies'}",
        ["id", "at", "actor", "action", "count", "plan", "target", "reason"],
        rows,
    )


@tasks.command("history", epilog="Example: stratix-queue tasks history 42")
@click.argument("task_id", type=int)
@json_option
@pass_state
def tasks_history(state: State, task_id: int, as_json: bool) -> None:
    """A task's attempt errors, replaced payloads, removal and audit entries."""
    found = state.queue.get_task_history(task_id)
    if as_json:
        print_json(found)
        return
    if found.task is None and found.removed is None and not found.audit:
        raise click.ClickException(f"nothing kept about task #{task_id}")
    if found.task is not None:
        console.print(f"task #{task_id}: {found.task.status.value}")
    if found.removed is not None:
        r = found.removed
        console.print(
            f"task #{task_id}: {r.outcome} at {when(r.removed_at)} by {r.removed_by}"
            f" (was {r.status}; reason: {r.reason or '-'})"
        )
    errors = [[e.attempt, e.code, e.message, when(e.failed_at)] for e in found.attempt_errors]
    table("attempt errors", ["attempt", "code", "message", "failed at"], errors)
    payloads = [
        [when(p.replaced_at), p.replaced_by, json.dumps(p.payload, ensure_ascii=False), p.reason]
        for p in found.payloads
    ]
    table("replaced payloads", ["replaced at", "by", "payload", "reason"], payloads)
    entries = [[when(e.at), e.actor, e.action, e.count, e.reason] for e in found.audit]
    table("audit", ["at", "actor", "action", "count", "reason"], entries)
