"""stratix-queue groups list|pause|resume|limit|breaker (docs/groups.md)."""

from __future__ import annotations

import click

from stratix_queue.cli.common import (
    Duration,
    State,
    console,
    json_option,
    pass_state,
    print_json,
    table,
    when,
)
from stratix_queue.cli.root import cli
from stratix_queue.job import GroupInfo, JobStatus


@cli.group(epilog="Example: stratix-queue groups pause reports --until 30m --reason 'API down'")
def groups() -> None:
    """Groups of tasks: list, pause, resume, limit, breaker."""


@groups.command("list", epilog="Example: stratix-queue groups list --json")
@json_option
@pass_state
def groups_list(state: State, as_json: bool) -> None:
    """Every group: whether it is paused (why, until when), its limits, its breaker and its
    task counts."""
    found = state.queue.list_groups()
    if as_json:
        print_json(found)
        return
    statuses = [s.value for s in JobStatus]
    columns = ["group", "state", "reason", "until (UTC)", "concurrency", "rate", "breaker"]
    table(f"{len(found)} group(s)", [*columns, *statuses], [_row(g, statuses) for g in found])


def _row(group: GroupInfo, statuses: list[str]) -> list[object]:
    return [
        group.name,
        "paused" if group.paused else "active",
        group.reason or "-",
        when(group.until),
        "-" if group.concurrency is None else group.concurrency,
        group.rate or "-",
        _breaker(group),
        *(group.counts[s] for s in statuses),
    ]


def _breaker(group: GroupInfo) -> str:
    if group.breaker_state is None:
        return "-"
    return (
        f"{group.breaker_state} ({group.breaker_threshold:.0%} of {group.breaker_min_tasks}+ "
        f"in {group.breaker_window:g}s, pause {group.breaker_cooldown:g}s)"
    )


@groups.command(
    "pause",
    epilog="Examples: stratix-queue groups pause reports\n\n"
    "stratix-queue groups pause reports --until 30m --reason 'upstream API down'\n\n"
    "stratix-queue groups pause reports --until 2030-01-31T09:00:00+01:00",
)
@click.argument("group")
@click.option(
    "--until",
    metavar="DURATION|TIME",
    help="Resume by itself after this long (30m, 2h) or at this ISO 8601 time (no offset: UTC).",
)
@click.option("--reason", help="Why: shown by `groups list` and kept in the audit.")
@pass_state
def groups_pause(state: State, group: str, until: str | None, reason: str | None) -> None:
    """Pause a group: its waiting and delayed tasks wait until it resumes."""
    count = state.queue.pause_group(group, until=until, reason=reason)
    ends = "" if until is None else f" until {until}"
    console.print(f"paused group {group!r}{ends}: {count} task(s) paused")


@groups.command("resume", epilog="Example: stratix-queue groups resume reports")
@click.argument("group")
@pass_state
def groups_resume(state: State, group: str) -> None:
    """Resume a group: its paused tasks become runnable again (this also closes its breaker)."""
    count = state.queue.resume_group(group)
    console.print(f"resumed group {group!r}: {count} task(s) runnable again")


@groups.command(
    "limit",
    epilog="Examples: stratix-queue groups limit reports --concurrency 5 --rate 100/m\n\n"
    "stratix-queue groups limit reports --clear",
)
@click.argument("group")
@click.option("--concurrency", type=int, help="At most this many of its tasks executing at once.")
@click.option("--rate", metavar="N/PERIOD", help="At most N starts per period: 100/m, 20/s, 5/10s.")
@click.option("--clear", is_flag=True, help="Take the group's limits away.")
@pass_state
def groups_limit(
    state: State, group: str, concurrency: int | None, rate: str | None, clear: bool
) -> None:
    """Set a group's limits, replacing those it had (a limit not given is taken away)."""
    if clear == (concurrency is not None or rate is not None):
        raise click.UsageError("give --concurrency and/or --rate, or --clear alone")
    if clear:
        state.queue.clear_group_limits(group)
        console.print(f"group {group!r}: no limits")
        return
    limits = state.queue.set_group_limits(group, concurrency=concurrency, rate=rate)
    slots = "-" if limits.concurrency is None else limits.concurrency
    starts = "-" if limits.rate is None else str(limits.rate)
    console.print(f"group {group!r}: concurrency {slots}, rate {starts}")


@groups.command(
    "breaker",
    epilog="Examples: stratix-queue groups breaker reports --threshold 0.5 --min-tasks 20 "
    "--window 5m --cooldown 1m\n\nstratix-queue groups breaker reports --off",
)
@click.argument("group")
@click.option(
    "--threshold", type=float, default=0.5, show_default=True, help="Fraction of failures."
)
@click.option(
    "--min-tasks", type=int, default=20, show_default=True, help="Outcomes needed to judge."
)
@click.option("--window", type=Duration(), default="5m", show_default=True, help="Looks back.")
@click.option(
    "--cooldown", type=Duration(), default="1m", show_default=True, help="Paused this long."
)
@click.option("--off", is_flag=True, help="Take the group's breaker away.")
@pass_state
def groups_breaker(
    state: State,
    group: str,
    threshold: float,
    min_tasks: int,
    window: float,
    cooldown: float,
    off: bool,
) -> None:
    """Give a group a circuit breaker: it pauses the group when too many of its tasks fail,
    then lets one probe task through after the cool-down."""
    if off:
        count = state.queue.clear_group_breaker(group)
        console.print(f"group {group!r}: no breaker; {count} task(s) runnable again")
        return
    settings = state.queue.set_group_breaker(
        group, threshold=threshold, min_tasks=min_tasks, window=window, cooldown=cooldown
    )
    console.print(
        f"group {group!r}: breaker opens at {settings.threshold:.0%} failures of at least "
        f"{settings.min_tasks} outcomes in {settings.window:g}s, pausing it for "
        f"{settings.cooldown:g}s"
    )
