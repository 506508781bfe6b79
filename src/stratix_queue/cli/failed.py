"""stratix-queue failed list|show|stats|retry: triage failures from the terminal."""

from __future__ import annotations

import click

from stratix_queue.cli.common import (
    State,
    console,
    json_option,
    page_title,
    pass_state,
    print_json,
    table,
)
from stratix_queue.cli.root import cli
from stratix_queue.cli.tasks import JOB_COLUMNS, job_rows, show_task
from stratix_queue.literal import styled


@cli.group(epilog="Example: stratix-queue failed stats")
def failed() -> None:
    """Failed tasks: list, show, stats, retry."""


@failed.command("list", epilog="Example: stratix-queue failed list --limit 20")
@click.option("--limit", type=click.IntRange(0, 100_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@json_option
@pass_state
def failed_list(state: State, limit: int, offset: int, as_json: bool) -> None:
    """Failed tasks, newest failure first."""
    found = state.queue.get_failed_tasks(limit, offset)
    if as_json:
        print_json(found)
        return
    rows = [
        [*row[:-1], f"{job.error_code}: {job.error_message}"]
        for row, job in zip(job_rows(found), found, strict=True)
    ]
    # Counted only when the page may not hold them all.
    total = state.queue.count_by_status()["failed"] if offset or len(found) == limit else None
    table(page_title("failed task(s)", len(found), total, limit, offset), JOB_COLUMNS, rows)


@failed.command("show", epilog="Example: stratix-queue failed show 42")
@click.argument("task_id", type=int)
@json_option
@pass_state
def failed_show(state: State, task_id: int, as_json: bool) -> None:
    """One failed task with its error stack and attempt history."""
    show_task(state, task_id, as_json)


@failed.command("stats", epilog="Example: stratix-queue failed stats --json")
@json_option
@pass_state
def failed_stats(state: State, as_json: bool) -> None:
    """Failed tasks in all, by executor, by group and by error code."""
    stats = state.queue.get_failed_tasks_stats()
    if as_json:
        print_json(stats)
        return
    console.print(styled((str(stats.total), "bold"), " failed task(s)"))
    if not stats.total:
        return
    for title, counts in (
        ("executor", stats.by_executor),
        ("group", stats.by_group),
        ("error code", stats.by_code),
    ):
        rows = [
            [key if key is not None else "-", count]
            for key, count in sorted(counts.items(), key=lambda kv: -kv[1])
        ]
        table(f"by {title}", [title, "failed"], rows)
