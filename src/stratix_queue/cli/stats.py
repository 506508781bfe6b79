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
from stratix_queue.retention import PruneReport
from stratix_queue.rollups import GROUPINGS, ThroughputRow


@cli.command(
    epilog="Examples: stratix-queue stats --json\n\nstratix-queue stats --since 24h --by executor"
)
@click.option(
    "--since",
    type=Duration(),
    help="Outcomes and run times of this last period (e.g. 1h, 24h, 7d), from the rollups.",
)
@click.option(
    "--by", type=click.Choice(GROUPINGS), help="With --since: one row per executor or group."
)
@json_option
@pass_state
def stats(state: State, since: float | None, by: str | None, as_json: bool) -> None:
    """Counts by status, successes in the last hour, oldest waiting task; with --since, the
    outcomes and run times of that period."""
    if since is not None or by is not None:
        _throughput(state, 86400.0 if since is None else since, by, as_json)
        return
    found = state.queue.queue_stats()
    if as_json:
        print_json(found)
        return
    table("queue_jobs by status", ["status", "tasks"], [[k, v] for k, v in found.counts.items()])
    console.print(f"executing: {found.running} running, {found.prefetched} prefetched")
    console.print(styled("succeeded in the last hour: ", (str(found.succeeded_last_hour), "bold")))
    console.print(f"oldest waiting task: {age(found.oldest_waiting_seconds)}")


def _throughput(state: State, since: float, by: str | None, as_json: bool) -> None:
    rows = state.queue.get_throughput(since, by)
    if as_json:
        print_json({"since_seconds": since, "by": by, "rows": rows})
        return
    key = by or "all"
    columns = [key, "succeeded", "failed", "retried", "rescued", "cancelled", "failure rate"]
    columns += ["avg ms", "max ms", "p50 ms*", "p95 ms*", "p99 ms*"]
    table(f"outcomes in the last {age(since)}", columns, [_row(r, by) for r in rows])
    console.print("* estimated from run-time buckets (rollups.py): within one bucket's width")


def _row(row: ThroughputRow, by: str | None) -> list[object]:
    key = "(no group)" if by == "group" and row.key is None else (row.key or "all")
    rate = "-" if row.failure_rate is None else f"{row.failure_rate:.1%}"
    return [
        key,
        row.succeeded,
        row.failed,
        row.retried,
        row.rescued,
        row.cancelled,
        rate,
        _ms(row.avg_ms),
        _ms(row.max_ms),
        _ms(row.p50_ms),
        _ms(row.p95_ms),
        _ms(row.p99_ms),
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}".removesuffix(".0")


@cli.command(
    epilog="Examples: stratix-queue prune --older-than 7d --dry-run\n\n"
    "stratix-queue prune --older-than 7d --rollups 90d --removed 30d"
)
@click.option(
    "--older-than", type=Duration(), help="Succeeded tasks (queue_success) older than this."
)
@click.option("--rollups", type=Duration(), help="Throughput rollups older than this.")
@click.option("--removed", type=Duration(), help="Discarded and cancelled tasks older than this.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@json_option
@pass_state
def prune(
    state: State,
    older_than: float | None,
    rollups: float | None,
    removed: float | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete what is older than its period, with the attempt errors and earlier payloads of
    tasks that are then nowhere (workers also do this on their own: `worker --keep-*`)."""
    if older_than is None and rollups is None and removed is None:
        raise click.UsageError("give --older-than, --rollups or --removed (e.g. --older-than 7d)")
    report = state.queue.prune(older_than, rollups, removed, dry_run=dry_run)
    if as_json:
        print_json({"dry_run": dry_run, "counts": report.counts})
        return
    _print_pruned(report, dry_run, older_than)


def _print_pruned(report: PruneReport, dry_run: bool, older_than: float | None) -> None:
    verb = "would delete" if dry_run else "deleted"
    if older_than is not None:  # the line this command printed before it pruned more
        count = report.counts.get("successes", 0)
        console.print(f"{verb} {count} succeeded task(s) older than {older_than:g}s")
    for what, count in report.counts.items():
        if what != "successes":
            console.print(f"{verb} {count} {what.replace('_', ' ')} row(s)")
