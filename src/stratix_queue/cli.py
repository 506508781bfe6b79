"""The ``stratix-queue`` command. Every command goes through QueueService; none runs SQL of its
own. (First cut with argparse; the full operator CLI comes with issue 4.)"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from stratix_queue.errors import StratixQueueError
from stratix_queue.service import QueueService
from stratix_queue.supervisor import WorkerCommand, run_worker_command
from stratix_queue.urls import URL_ENV

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratix-queue",
        description="A task queue in SQLite, PostgreSQL or MySQL/MariaDB.",
        epilog=f"The database URL comes from --url, else ${URL_ENV}, "
        "else sqlite:///stratix-queue.db.",
    )
    parser.add_argument("--url", help="database URL, e.g. postgresql://user@host:5432/db")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_migrate(commands)
    _add_worker(commands)
    workers = commands.add_parser(
        "workers",
        help="list running workers",
        description="List the workers registered against the database. "
        "Example: stratix-queue workers --json",
    )
    workers.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _add_migrate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="apply schema migrations",
        description="Bring the schema to the latest version (or --to VERSION, up or down). "
        "Example: stratix-queue migrate --to 1 --sql",
    )
    migrate.add_argument("action", nargs="?", choices=["status"], help="show the versions")
    migrate.add_argument("--to", type=int, metavar="VERSION", help="target version (0 = empty)")
    migrate.add_argument("--sql", action="store_true", help="print the SQL instead of running it")


def _add_worker(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser(
        "worker",
        help="run worker processes",
        description="Run P processes of N slots each for the executors of an application. "
        "Example: stratix-queue worker --app myapp.tasks:queue --concurrency 8 --processes 2",
    )
    worker.add_argument("--app", required=True, help="package.module:queue (a QueueService)")
    worker.add_argument("--concurrency", type=int, default=4, help="slots per process")
    worker.add_argument("--processes", type=int, default=1, help="worker processes")
    worker.add_argument("--groups", help="only these groups, comma-separated")
    worker.add_argument("--burst", action="store_true", help="exit once nothing is runnable")
    worker.add_argument("--lease", type=float, default=30.0, help="lease seconds (default 30)")
    worker.add_argument("--heartbeat", type=float, help="heartbeat seconds (default lease/3)")
    worker.add_argument("--rescue-interval", type=float, help="seconds between rescue sweeps")
    worker.add_argument("--grace", type=float, default=30.0, help="shutdown grace seconds")
    worker.add_argument("--poll", type=float, default=1.0, help="longest idle poll, seconds")
    worker.add_argument(
        "--no-listen",
        action="store_true",
        help="PostgreSQL: poll only, no LISTEN (e.g. behind PgBouncer)",
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    with QueueService(args.url) as queue:
        if args.action == "status":
            return _print_status(queue)
        if args.sql:
            sys.stdout.write(queue.migration_sql(args.to))
            return EXIT_OK
        steps = queue.migrate(args.to)
        if not steps:
            print(f"schema is up to date (version {queue.migration_status().current})")
        for step in steps:
            migration = step.migration
            print(f"{step.direction:>4}  {migration.version:03d}_{migration.name}")
    return EXIT_OK


def _print_status(queue: QueueService) -> int:
    status = queue.migration_status()
    print(f"current version: {status.current} (latest: {status.latest})")
    if status.legacy:
        print("pre-update layout found without a version table: `migrate` will upgrade it")
    for applied in status.applied:
        when = applied.applied_at.isoformat() if applied.applied_at else "-"
        print(f"  applied  {applied.version:03d}_{applied.name}  {when}")
    for pending in status.pending:
        print(f"  pending  {pending.version:03d}_{pending.name}")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    if args.concurrency < 1 or args.processes < 1:
        print(
            "stratix-queue: error: --concurrency and --processes must be 1 or more", file=sys.stderr
        )
        return EXIT_USAGE
    groups = [g.strip() for g in args.groups.split(",") if g.strip()] if args.groups else None
    command = WorkerCommand(
        app=args.app,
        url=args.url,
        processes=args.processes,
        worker_args={
            "concurrency": args.concurrency,
            "burst": args.burst,
            "groups": groups,
            "lease_seconds": args.lease,
            "heartbeat_seconds": args.heartbeat,
            "rescue_interval": args.rescue_interval,
            "grace_seconds": args.grace,
            "poll_interval": args.poll,
            "listen": not args.no_listen,
        },
    )
    return run_worker_command(command)


def cmd_workers(args: argparse.Namespace) -> int:
    with QueueService(args.url) as queue:
        workers = queue.list_workers()
    if args.json:
        rows = [
            {
                "id": w.id,
                "hostname": w.hostname,
                "pid": w.pid,
                "concurrency": w.concurrency,
                "groups": w.groups,
                "started_at": _iso(w.started_at),
                "last_heartbeat_at": _iso(w.last_heartbeat_at),
            }
            for w in workers
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"{len(workers)} worker(s)")
    for w in workers:
        groups = ",".join(w.groups) if w.groups else "*"
        print(
            f"  {w.id}  concurrency={w.concurrency} groups={groups} "
            f"started={_iso(w.started_at)} heartbeat={_iso(w.last_heartbeat_at)}"
        )
    return EXIT_OK


def _iso(value: object) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "migrate": cmd_migrate,
    "worker": cmd_worker,
    "workers": cmd_workers,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command](args)
    except StratixQueueError as exc:
        if args.debug:
            raise
        print(f"stratix-queue: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
