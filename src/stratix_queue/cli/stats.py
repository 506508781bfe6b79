"""stratix-queue stats and prune."""

from __future__ import annotations

import click

from stratix_queue.cli.common import (
    Duration,
    State,
    age,
    console,
    json_option,
    pass_state,
    print_json,
    table,
)
from stratix_queue.cli.root import cli
from stratix_queue.literal import styled


@cli.command(epilog="Example: stratix-queue stats --json")
@json_option
@pass_state
def stats(state: State, as_json: bool) -> None:
    """Counts by status, successes in the last hour, oldest waiting task."""
    found = state.queue.queue_stats()
    if as_json:
        print_json(found)
        return
    table("queue_jobs by status", ["status", "tasks"], [[k, v] for k, v in found.counts.items()])
    console.print(f"executing: {found.running} running, {found.prefetched} prefetched")
    console.print(styled("succeeded in the last hour: ", (str(found.succeeded_last_hour), "bold")))
    console.print(f"oldest waiting task: {age(found.oldest_waiting_seconds)}")


@cli.command(epilog="Example: stratix-queue prune --older-than 7d --dry-run")
@click.option("--older-than", type=Duration(), required=True, help="Age, e.g. 7d, 12h.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@pass_state
def prune(state: State, older_than: float, dry_run: bool) -> None:
    """Delete succeeded tasks (queue_success) completed longer ago than --older-than."""
    count = state.queue.prune_succeeded(older_than, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {count} succeeded task(s) older than {older_than:g}s")
