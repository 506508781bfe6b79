"""stratix-queue migrate: to latest, --to VERSION, status, --sql."""

from __future__ import annotations

import click

from stratix_queue.cli.common import State, console, json_option, pass_state, print_json, when
from stratix_queue.cli.root import cli


@cli.group(invoke_without_command=True, epilog="Example: stratix-queue migrate --to 1 --sql")
@click.option("--to", "target", type=int, metavar="VERSION", help="Target version (0 = empty).")
@click.option("--sql", "show_sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
def migrate(ctx: click.Context, target: int | None, show_sql: bool) -> None:
    """Bring the schema to the latest version (or VERSION, up or down)."""
    if ctx.invoked_subcommand is not None:
        return
    queue = ctx.ensure_object(State).queue
    if show_sql:
        click.echo(queue.migration_sql(target), nl=False)
        return
    steps = queue.migrate(target)
    if not steps:
        console.print(f"schema is up to date (version {queue.migration_status().current})")
    for step in steps:
        migration = step.migration
        console.print(f"{step.direction:>4}  {migration.version:03d}_{migration.name}")


@migrate.command("status", epilog="Example: stratix-queue migrate status --json")
@json_option
@pass_state
def migrate_status(state: State, as_json: bool) -> None:
    """Show the applied and pending schema versions."""
    status = state.queue.migration_status()
    if as_json:
        print_json(status)
        return
    console.print(f"current version: {status.current} (latest: {status.latest})")
    if status.legacy:
        console.print("pre-update layout found without a version table: `migrate` will upgrade it")
    for applied in status.applied:
        console.print(
            f"  applied  {applied.version:03d}_{applied.name}  {when(applied.applied_at)}"
        )
    for pending in status.pending:
        console.print(f"  pending  {pending.version:03d}_{pending.name}")
