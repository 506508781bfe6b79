"""stratix-queue schedules list|add|pause|resume|run-now|remove."""

from __future__ import annotations

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
from stratix_queue.cli.tasks import _payload
from stratix_queue.schedules import MISSED_POLICIES, Schedule


@cli.group(
    epilog="Example: stratix-queue schedules add nightly --cron '0 3 * * *' --executor report"
)
def schedules() -> None:
    """Cron schedules that enqueue tasks: list, add, pause, resume, run-now, remove."""


def _row(s: Schedule) -> list[object]:
    return [
        s.name,
        s.cron,
        s.timezone,
        s.executor,
        s.group or "-",
        s.status,
        s.missed,
        when(s.next_run_at),
        when(s.last_run_at),
        s.last_job_id if s.last_job_id is not None else "-",
    ]


_COLUMNS = [
    "schedule",
    "cron",
    "timezone",
    "executor",
    "group",
    "state",
    "missed",
    "next (UTC)",
    "last (UTC)",
    "last task",
]


@schedules.command("list", epilog="Example: stratix-queue schedules list --json")
@json_option
@pass_state
def schedules_list(state: State, as_json: bool) -> None:
    """Every schedule with its next and last tick."""
    found = state.queue.list_schedules()
    if as_json:
        print_json(found)
        return
    table(f"{len(found)} schedule(s)", _COLUMNS, [_row(s) for s in found])


@schedules.command(
    "add",
    epilog="Example: stratix-queue schedules add nightly-report --cron '0 3 * * *' "
    '--executor report --timezone Europe/Paris --payload \'{"kind": "daily"}\'',
)
@click.argument("name")
@click.option("--cron", required=True, help="Cron expression: 5 fields, or 6 with seconds first.")
@click.option("--executor", required=True, help="Executor that runs the tasks.")
@click.option("--payload", help="JSON payload of every task.")
@click.option("--group", help="Group of the tasks.")
@click.option("--task-name", help="Name of the tasks [default: the schedule's name].")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of the cron.")
@click.option(
    "--missed",
    type=click.Choice(MISSED_POLICIES),
    default="skip",
    show_default=True,
    help="Ticks missed by more than 60 s: skip them, or run once for all.",
)
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--max-attempts", type=int, help="Attempts before a task is marked failed.")
@pass_state
def schedules_add(
    state: State,
    name: str,
    cron: str,
    executor: str,
    payload: str | None,
    group: str | None,
    task_name: str | None,
    timezone: str,
    missed: str,
    priority: int,
    max_attempts: int | None,
) -> None:
    """Create or replace a schedule."""
    saved = state.queue.schedule(
        name,
        cron=cron,
        executor=executor,
        payload=_payload(payload),
        group=group,
        timezone=timezone,
        missed=missed,
        name=task_name,
        priority=priority,
        max_attempts=max_attempts,
    )
    console.print(
        f"schedule {saved.name!r} saved ({saved.status}): next tick {when(saved.next_run_at)} UTC"
    )


@schedules.command("pause", epilog="Example: stratix-queue schedules pause nightly-report")
@click.argument("name")
@pass_state
def schedules_pause(state: State, name: str) -> None:
    """Stop enqueueing a schedule's ticks until it resumes."""
    state.queue.pause_schedule(name)
    console.print(f"paused schedule {name!r}")


@schedules.command("resume", epilog="Example: stratix-queue schedules resume nightly-report")
@click.argument("name")
@pass_state
def schedules_resume(state: State, name: str) -> None:
    """Resume a schedule from its next tick after now."""
    saved = state.queue.resume_schedule(name)
    console.print(f"resumed schedule {name!r}: next tick {when(saved.next_run_at)} UTC")


@schedules.command("run-now", epilog="Example: stratix-queue schedules run-now nightly-report")
@click.argument("name")
@pass_state
def schedules_run_now(state: State, name: str) -> None:
    """Enqueue one task of a schedule now (its next tick stays)."""
    job = state.queue.run_schedule_now(name)
    console.print(f"schedule {name!r}: added task {job.id} ({job.status.value})")


@schedules.command("remove", epilog="Example: stratix-queue schedules remove nightly-report")
@click.argument("name")
@pass_state
def schedules_remove(state: State, name: str) -> None:
    """Delete a schedule (the tasks it enqueued stay)."""
    if not state.queue.remove_schedule(name):
        raise click.ClickException(f"no schedule named {name!r}")
    console.print(f"removed schedule {name!r}")
