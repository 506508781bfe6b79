"""The ``stratix-queue`` command (first cut: migrations). Every command goes through
QueueService; none runs SQL of its own."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from stratix_queue.errors import StratixQueueError
from stratix_queue.service import QueueService
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
    migrate = commands.add_parser(
        "migrate",
        help="apply schema migrations",
        description="Bring the schema to the latest version (or --to VERSION, up or down). "
        "Example: stratix-queue migrate --to 1 --sql",
    )
    migrate.add_argument("action", nargs="?", choices=["status"], help="show the versions")
    migrate.add_argument("--to", type=int, metavar="VERSION", help="target version (0 = empty)")
    migrate.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    return parser


def cmd_migrate(queue: QueueService, args: argparse.Namespace) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with QueueService(args.url) as queue:
            return cmd_migrate(queue, args)
    except StratixQueueError as exc:
        if args.debug:
            raise
        print(f"stratix-queue: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
