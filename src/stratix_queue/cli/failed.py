"""stratix-queue failed list|show|stats|retry: triage failures from the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from stratix_queue.cli.common import (
    State,
    console,
    json_option,
    page_title,
    pass_state,
    print_json,
    table,
    when,
)
from stratix_queue.cli.filter_options import failure_filter, filter_options
from stratix_queue.cli.root import cli
from stratix_queue.cli.tasks import JOB_COLUMNS, job_rows, show_task
from stratix_queue.job import KEPT_COUNTS, FingerprintStats, Job
from stratix_queue.literal import styled

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter


@cli.group(epilog="Example: stratix-queue failed stats")
def failed() -> None:
    """Failed tasks: list, show, stats, retry."""


@failed.command(
    "list",
    epilog="Examples: stratix-queue failed list --limit 20\n\n"
    "stratix-queue failed list --executor convert --since 2h --message 'exchange rate'",
)
@filter_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--offset", type=click.IntRange(0), help="Skip this many (unfiltered list only).")
@click.option("--print-filter", is_flag=True, help="Print the command line of this filter.")
@json_option
@pass_state
def failed_list(
    state: State,
    /,
    limit: int,
    cursor: str | None,
    offset: int | None,
    print_filter: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Failed tasks matching the filter options, newest failure first. Page by --cursor (the
    next page's command is printed); --json with --cursor prints the page with its next
    cursor ("--cursor first" starts)."""
    failures = failure_filter(options)
    if print_filter:
        click.echo(failures.cli_line("failed list"))
        return
    if offset is not None:
        _by_offset(state, failures, limit, offset, as_json)
        return
    page = state.queue.list_failed_tasks(
        failures, limit=limit, cursor=None if cursor in (None, FIRST) else cursor
    )
    if as_json:
        if cursor is None:
            print_json(page.jobs)  # the seed's shape: a list of tasks
        else:
            print_json({"tasks": page.jobs, "next_cursor": page.next_cursor})
        return
    # Counted only when the page may not hold them all.
    paged = cursor not in (None, FIRST) or len(page.jobs) == limit
    total = state.queue.count_failed_tasks(failures) if paged else None
    title = page_title("failed task(s)", len(page.jobs), total, limit, 0)
    table(title + (", after the cursor" if cursor not in (None, FIRST) else ""), *_rows(page.jobs))
    if page.next_cursor:
        command = failures.cli_line("failed list")
        console.print(f"next page: {command} --limit {limit} --cursor {page.next_cursor}")


FIRST = "first"  # --cursor first: the first page, printed with its cursor (--json)


def _by_offset(
    state: State, failures: FailureFilter, limit: int, offset: int, as_json: bool
) -> None:
    """The seed's paging: skip ``offset`` of all failed tasks (slow deep down: --cursor)."""
    if not failures.is_empty():
        raise click.UsageError("--offset pages the unfiltered list; with a filter use --cursor")
    found = state.queue.get_failed_tasks(limit, offset)
    if as_json:
        print_json(found)
        return
    # Counted only when the page may not hold them all.
    total = state.queue.count_by_status()["failed"] if offset or len(found) == limit else None
    table(page_title("failed task(s)", len(found), total, limit, offset), *_rows(found))


def _rows(jobs: list[Job]) -> tuple[list[str], list[list[Any]]]:
    return JOB_COLUMNS, [
        [*row[:-1], f"{job.error_code}: {job.error_message}"]
        for row, job in zip(job_rows(jobs), jobs, strict=True)
    ]


@failed.command("show", epilog="Example: stratix-queue failed show 42")
@click.argument("task_id", type=int)
@json_option
@pass_state
def failed_show(state: State, task_id: int, as_json: bool) -> None:
    """One failed task with its error stack and attempt history."""
    show_task(state, task_id, as_json)


@failed.command(
    "stats",
    epilog="Examples: stratix-queue failed stats\n\nstratix-queue failed stats --executor convert",
)
@filter_options
@json_option
@pass_state
def failed_stats(state: State, /, as_json: bool, **options: Any) -> None:
    """The failure inbox: one row per fingerprint (a kind of failure), biggest first, then the
    failed tasks by executor, group and error code; of those matching the filter options."""
    failures = failure_filter(options)
    stats = state.queue.get_failed_tasks_stats(failures)
    if as_json:
        print_json(stats)
        return
    filtered = "" if failures.is_empty() else f" matching {failures.cli_line('failed stats')}"
    counted = "" if stats.counted_from == KEPT_COUNTS else " (counted from the failed tasks)"
    console.print(styled((str(stats.total), "bold"), f" failed task(s){filtered}{counted}"))
    if not stats.total:
        return
    table("by fingerprint", INBOX_COLUMNS, [_inbox_row(entry) for entry in stats.by_fingerprint])
    for title, counts in (
        ("executor", stats.by_executor),
        ("group", stats.by_group),
        ("error code", stats.by_code),
    ):
        rows = [[key if key is not None else "-", count] for key, count in counts.items()]
        table(f"by {title}", [title, "failed"], rows)


INBOX_COLUMNS = ["failed", "fingerprint", "code", "sample message", "where", "first", "last"]
SHOWN_NAMES = 3  # executors and groups named per fingerprint; the rest as "+N"


def _inbox_row(entry: FingerprintStats) -> list[Any]:
    return [
        entry.count,
        entry.fingerprint or "-",
        _names(entry.codes),
        entry.sample_message or "",
        f"{_names(entry.executors)} / {_names(entry.groups)}",
        when(entry.first_seen),
        when(entry.last_seen),
    ]


def _names(counts: Mapping[str | None, int] | Mapping[str, int]) -> str:
    names = ["-" if key is None else key for key in counts]
    more = f" +{len(names) - SHOWN_NAMES}" if len(names) > SHOWN_NAMES else ""
    return ", ".join(names[:SHOWN_NAMES]) + more
