"""A guided tour of stratix-queue on the SQLite default (./stratix-queue.db), about 10 seconds.

It adds a few thousand tasks across three groups, runs a worker, finds that one executor fails
for some inputs, shows those failures and their stats, fixes the executor, retries every failure
and shows that everything succeeded. `make demo` runs it in a fresh temporary directory.
"""

from __future__ import annotations

import logging
import random
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stratix_queue import FailureFilter, Job, QueueService
from stratix_queue.urls import parse_url

console = Console(highlight=False, width=None if sys.stdout.isatty() else 100)
queue = QueueService()  # no URL and no STRATIX_QUEUE_URL: sqlite:///stratix-queue.db
rates = {"EUR": 1.0, "USD": 1.08, "JPY": 161.2}  # GBP is missing: the bug of this story


@queue.executor("render_report")
def render_report(payload: dict[str, Any], job: Job) -> None:
    _ = sum(range(payload["rows"]))


@queue.executor("convert_price")
def convert_price(payload: dict[str, Any], job: Job) -> None:
    if payload["currency"] not in rates:
        raise LookupError(f"no exchange rate for {payload['currency']}")
    _ = payload["amount"] * rates[payload["currency"]]


@queue.executor("send_email")
def send_email(payload: dict[str, Any], job: Job) -> None:
    _ = payload["to"].split("@")


def step(number: int, title: str) -> None:
    console.print(f"\n[bold cyan]{number}.[/bold cyan] [bold]{title}[/bold]")


def make_tasks(count: int) -> list[dict[str, Any]]:
    pick = random.Random(7)
    tasks: list[dict[str, Any]] = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            tasks.append(
                {
                    "name": "monthlyReport",
                    "executor": "render_report",
                    "group": "reports",
                    "payload": {"rows": pick.randint(10, 500)},
                }
            )
        elif kind == 1:
            currency = pick.choice(["EUR", "USD", "JPY", "EUR", "USD", "GBP"])
            tasks.append(
                {
                    "name": "convertInvoice",
                    "executor": "convert_price",
                    "group": "billing",
                    "payload": {"currency": currency, "amount": pick.randint(1, 999)},
                }
            )
        else:
            tasks.append(
                {
                    "name": "welcomeEmail",
                    "executor": "send_email",
                    "group": "emails",
                    "payload": {"to": f"user{i}@example.com"},
                    "priority": 5,
                }
            )
    return tasks


def run_worker_with_progress(total: int, label: str) -> None:
    """Run a burst worker in a thread and follow it from queue_jobs' counts."""
    worker = threading.Thread(target=queue.run_worker, kwargs={"concurrency": 8, "burst": True})
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(label, total=total)
        worker.start()
        while worker.is_alive():
            counts = queue.count_by_status()
            progress.update(bar, completed=total - counts["waiting"] - counts["executing"])
            time.sleep(0.1)
        progress.update(bar, completed=total)
    worker.join()


def show_failures() -> None:
    failed = queue.get_failed_tasks(8, 0)
    stats = queue.get_failed_tasks_stats()
    grid = Table(
        title=f"get_failed_tasks(8, 0): 8 of {stats.total}, newest first", title_justify="left"
    )
    for column in ("id", "name", "group", "code", "message", "failed at (UTC)"):
        grid.add_column(column)
    for job in failed:
        info = job.get_error_info()
        assert info is not None and info.failed_at is not None
        grid.add_row(
            str(job.id),
            job.name,
            job.group or "-",
            info.code or "-",
            info.message or "",
            info.failed_at.strftime("%H:%M:%S.%f")[:-3],
        )
    console.print(grid)
    console.print(
        Panel.fit(
            f"total [bold red]{stats.total}[/bold red]   by executor {stats.by_executor}\n"
            f"by group {stats.by_group}   by code {stats.by_code}",
            title="get_failed_tasks_stats()",
        )
    )
    one = failed[0]
    console.print(
        f"the error stack of #{one.id} ends with: "
        f"[italic]{escape((one.error_stack or '').strip().splitlines()[-1])}[/italic]"
    )
    for entry in stats.by_fingerprint:
        console.print(
            f"   fingerprint {entry.fingerprint}: [bold red]{entry.count}[/bold red] failures "
            f"are one error, e.g. [italic]{escape(entry.sample_message or '')}[/italic]"
        )


def main() -> None:
    logging.getLogger("stratix_queue").setLevel(logging.ERROR)  # the tour prints its own story
    started = time.monotonic()
    console.print(Panel.fit(f"[bold]stratix-queue[/bold] guided tour on {queue.url}"))
    step(1, "migrate the database (idempotent)")
    applied = queue.migrate()
    console.print(
        f"   applied {len(applied)} migration(s); schema version {queue.migration_status().current}"
    )

    step(2, "add 3,000 tasks across three groups and executors, in one transaction")
    jobs = queue.add_tasks(make_tasks(3000))
    console.print(f"   added {len(jobs)} tasks: {queue.count_by_status()}")

    step(3, "run a worker (8 threads) until nothing is runnable")
    run_worker_with_progress(len(jobs), "   working")
    counts = queue.count_by_status()
    console.print(f"   queue_jobs now holds only the failures: {counts}")

    step(4, "failures stay in queue_jobs with their error, ready to inspect")
    show_failures()

    step(5, "fix the executor (add the missing GBP rate) and retry every failure, as a plan")
    rates["GBP"] = 0.86
    failures = FailureFilter.build(executor="convert_price")
    dry = queue.dry_run("retry", failures)
    console.print(f"   dry run of `{escape(dry.command)}`: {dry.count} task(s) would be retried")
    plan = queue.create_plan("retry", failures, actor="demo", reason="GBP rate added")
    plan = queue.run_plan(plan.id, actor="demo")
    console.print(
        f"   plan #{plan.id} {plan.status}: {plan.done} back to waiting, {plan.skipped} skipped "
        "(each task at most once, audited)"
    )
    run_worker_with_progress(plan.done, "   retrying")

    step(6, "everything succeeded")
    stats = queue.queue_stats()
    console.print(f"   queue_jobs: {stats.counts}")
    console.print(
        f"   succeeded in the last hour: [bold green]{stats.succeeded_last_hour}"
        f"[/bold green]; failed now: {queue.get_failed_tasks_stats().total}"
    )
    for row in queue.get_throughput("1h", by="executor"):
        console.print(
            f"   {escape(row.key or '-')}: {row.succeeded} succeeded, {row.failed} failed, "
            f"p95 run time ~{row.p95_ms or 0:.1f} ms (estimated from the per-minute rollups)"
        )
    console.print(
        f"\n[bold green]done[/bold green] in {time.monotonic() - started:.1f} s. "
        "The database stays; look at it with:"
    )
    for command in try_commands():
        console.print(f"   {command}", markup=False, soft_wrap=True)  # whole, for copy and paste
    queue.close()


def try_commands() -> list[str]:
    """Commands that work as printed, from any directory: the CLI beside this Python (the venv's)
    and the demo's database by its absolute path (`make demo` runs in a temporary directory)."""
    cli = Path(sys.executable).parent / "stratix-queue"  # not resolved: a venv's python is a link
    program = (
        shlex.quote(str(cli)) if cli.exists() else f"{shlex.quote(sys.executable)} -m stratix_queue"
    )
    url = shlex.quote(f"sqlite:///{Path(parse_url(queue.url).path).resolve()}")
    return [
        f"{program} --url {url} stats",
        f"{program} --url {url} failed stats",
        f"{program} --help",
    ]


if __name__ == "__main__":
    main()
