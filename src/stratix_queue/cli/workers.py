"""stratix-queue worker and workers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from stratix_queue.cli.common import (
    Duration,
    State,
    app_option,
    json_option,
    pass_state,
    print_json,
    table,
    when,
)
from stratix_queue.cli.root import cli
from stratix_queue.supervisor import WorkerCommand, run_worker_command
from stratix_queue.worker_options import MAX_CONCURRENCY, MAX_PREFETCH, WorkerOptions

DEFAULTS = WorkerOptions()  # the defaults shown in --help are the options object's own
F = TypeVar("F", bound=Callable[..., Any])


def _keep_option(kind: str, what: str) -> Callable[[F], F]:
    """``--keep-KIND DURATION``: the retention period of one kind of record (retention.py)."""
    seconds = getattr(DEFAULTS.retention, kind)
    return click.option(
        f"--keep-{kind}",
        type=Duration(),
        default=seconds,
        show_default=f"{seconds / 86400:g}d",
        help=f"Prune {what} older than this; 0: keep forever.",
    )


@cli.command(
    epilog="Example: stratix-queue worker --app myapp.tasks:queue --concurrency 8 "
    "--processes 2 --groups reports,billing"
)
@app_option(
    "The application's QueueService: package.module:attribute (default attribute: queue).",
    required=True,
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=DEFAULTS.concurrency,
    show_default=True,
    help="Slots (threads) per process.",
)
@click.option(
    "--prefetch",
    type=click.IntRange(0, MAX_PREFETCH),
    help="Claimed tasks held waiting for a slot [default: adapts to task length]; 0: none.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes (restarted if they die).",
)
@click.option("--groups", help="Only these groups, comma-separated.")
@click.option("--burst", is_flag=True, help="Exit once nothing is runnable.")
@click.option(
    "--lease",
    type=Duration(),
    default=DEFAULTS.lease_seconds,
    show_default=True,
    help="Lease length.",
)
@click.option("--heartbeat", type=Duration(), help="Heartbeat interval [default: lease/3].")
@click.option(
    "--rescue-interval", type=Duration(), help="Rescue sweep interval [default: heartbeat]."
)
@click.option(
    "--grace",
    type=Duration(),
    default=DEFAULTS.grace_seconds,
    show_default=True,
    help="Time running tasks get on SIGTERM.",
)
@click.option(
    "--poll",
    type=Duration(),
    default=DEFAULTS.poll_interval,
    show_default=True,
    help="Longest idle poll.",
)
@click.option(
    "--no-listen",
    is_flag=True,
    help="Poll only: no LISTEN (PostgreSQL; e.g. behind PgBouncer) or change watcher.",
)
@click.option(
    "--no-schedules",
    is_flag=True,
    help="Do not enqueue the ticks of schedules (other workers do).",
)
@_keep_option("successes", "succeeded tasks (queue_success)")
@_keep_option("rollups", "throughput rollups")
@_keep_option("removed", "discarded and cancelled tasks")
@pass_state
def worker(
    state: State,
    app: str,
    concurrency: int,
    prefetch: int | None,
    processes: int,
    groups: str | None,
    burst: bool,
    lease: float,
    heartbeat: float | None,
    rescue_interval: float | None,
    grace: float,
    poll: float,
    no_listen: bool,
    no_schedules: bool,
    keep_successes: float,
    keep_rollups: float,
    keep_removed: float,
) -> None:
    """Run workers for the executors of an application."""
    if not state.debug:  # a worker's log is its record: task lines are INFO
        logging.getLogger("stratix_queue").setLevel(logging.INFO)
    names = [g.strip() for g in groups.split(",") if g.strip()] if groups else None
    options = WorkerOptions(  # a bad value fails here, before any process or connection
        concurrency=concurrency,
        prefetch=prefetch,
        burst=burst,
        groups=names,
        lease_seconds=lease,
        heartbeat_seconds=heartbeat,
        rescue_interval=rescue_interval,
        grace_seconds=grace,
        poll_interval=poll,
        listen=not no_listen,
        keep_successes=keep_successes,
        keep_rollups=keep_rollups,
        keep_removed=keep_removed,
        schedules=not no_schedules,
    )
    command = WorkerCommand(app=app, url=state.url, processes=processes, options=options)
    click.get_current_context().exit(run_worker_command(command))


@cli.command(epilog="Example: stratix-queue workers --json")
@json_option
@pass_state
def workers(state: State, as_json: bool) -> None:
    """List the workers running against the database."""
    found = state.queue.list_workers()
    if as_json:
        print_json(found)
        return
    rows = [
        [
            w.id,
            w.concurrency,
            w.running,
            w.prefetched,
            ",".join(w.groups) if w.groups else "*",
            when(w.started_at),
            when(w.last_heartbeat_at),
        ]
        for w in found
    ]
    columns = ["worker", "slots", "running", "prefetched", "groups", "started", "heartbeat"]
    table(f"{len(found)} worker(s)", columns, rows)
