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

RETRY_BATCH = 500


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


@failed.command(
    "retry",
    epilog="Examples: stratix-queue failed retry 12 13\n\n"
    "stratix-queue failed retry --all --executor convert --code LookupError --yes",
)
@click.argument("task_ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Retry every failed task that matches.")
@click.option("--executor", help="With --all: only this executor.")
@click.option("--group", help="With --all: only this group.")
@click.option("--code", help="With --all: only this error code.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def failed_retry(
    state: State,
    task_ids: tuple[int, ...],
    retry_all: bool,
    executor: str | None,
    group: str | None,
    code: str | None,
    yes: bool,
) -> None:
    """Reset failed tasks to waiting: by id, or --all that match the filters."""
    if retry_all == bool(task_ids):
        raise click.UsageError("give task ids, or --all (with optional filters)")
    if not retry_all and (executor or group or code):
        raise click.UsageError("--executor, --group and --code go with --all")
    ids = list(task_ids) or state.queue.find_failed_task_ids(executor, group, code)
    if retry_all:
        console.print(f"{len(ids)} failed task(s) match")
        if not ids:
            return
        if not yes:
            click.confirm(f"Retry {len(ids)} task(s)?", abort=True, err=True)
    succeeded, not_failed = _retry(state, ids)
    console.print(
        styled(
            "retried: ",
            (str(succeeded), "green"),
            f" succeeded, {not_failed} failed (not failed any more, or not found)",
        )
    )
    if not_failed and not retry_all:
        click.get_current_context().exit(1)


def _retry(state: State, ids: list[int]) -> tuple[int, int]:
    succeeded = not_failed = 0
    from rich.progress import Progress

    with Progress(
        console=console.get(), transient=True, disable=not console.is_terminal
    ) as progress:
        bar = progress.add_task("retrying", total=len(ids))
        for start in range(0, len(ids), RETRY_BATCH):
            result = state.queue.retry_failed_tasks(ids[start : start + RETRY_BATCH])
            succeeded += len(result.success)
            not_failed += len(result.failed)
            progress.advance(bar, len(result.success) + len(result.failed))
    return succeeded, not_failed
