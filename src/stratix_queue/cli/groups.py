"""stratix-queue groups list|pause|resume."""

from __future__ import annotations

import click

from stratix_queue.cli.common import State, console, json_option, pass_state, print_json, table
from stratix_queue.cli.root import cli
from stratix_queue.job import JobStatus


@cli.group(epilog="Example: stratix-queue groups pause reports")
def groups() -> None:
    """Groups of tasks: list, pause, resume."""


@groups.command("list", epilog="Example: stratix-queue groups list --json")
@json_option
@pass_state
def groups_list(state: State, as_json: bool) -> None:
    """Every group with its task counts and whether it is paused."""
    found = state.queue.list_groups()
    if as_json:
        print_json(found)
        return
    statuses = [s.value for s in JobStatus]
    rows = [
        [g.name, "paused" if g.paused else "active", *(g.counts[s] for s in statuses)]
        for g in found
    ]
    table(f"{len(found)} group(s)", ["group", "state", *statuses], rows)


@groups.command("pause", epilog="Example: stratix-queue groups pause reports")
@click.argument("group")
@pass_state
def groups_pause(state: State, group: str) -> None:
    """Pause a group: its waiting and delayed tasks wait until it resumes."""
    count = state.queue.pause_group(group)
    console.print(f"paused group {group!r}: {count} task(s) paused")


@groups.command("resume", epilog="Example: stratix-queue groups resume reports")
@click.argument("group")
@pass_state
def groups_resume(state: State, group: str) -> None:
    """Resume a group: its paused tasks become runnable again."""
    count = state.queue.resume_group(group)
    console.print(f"resumed group {group!r}: {count} task(s) runnable again")
