"""stratix-queue migrate: to latest, --to VERSION, status, --sql."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stratix_queue.cli.common import State, console, json_option, pass_state, print_json, when
from stratix_queue.cli.root import cli

if TYPE_CHECKING:
    from stratix_queue.migrations.runner import Step

# How a version got there, when not by running its up script (the version table's method).
METHODS = {
    "schema": "installed from schema.sql",
    "adopted": "adopted: its schema was found in place",
    "legacy": "legacy: the pre-update layout, found without a version table",
}


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
        console.print(
            f"{step.direction:>4}  {step.migration.version:03d}_{step.migration.name}{_how(step)}"
        )


def _how(step: Step) -> str:
    if step.found:
        return f"  (adopted: {', '.join(step.found)} found in place)"
    return "  (installed from schema.sql)" if step.method == "schema" else ""


@migrate.command("status", epilog="Example: stratix-queue migrate status --json")
@json_option
@pass_state
def migrate_status(state: State, as_json: bool) -> None:
    """Show the applied and pending schema versions, and how each applied one got there."""
    status = state.queue.migration_status()
    if as_json:
        print_json(status)
        return
    console.print(f"current version: {status.current} (latest: {status.latest})")
    if status.legacy:
        console.print("pre-update layout found without a version table: `migrate` will upgrade it")
    for applied in status.applied:
        how = METHODS.get(applied.method)
        console.print(
            f"  applied  {applied.version:03d}_{applied.name}  {when(applied.applied_at)}"
            + (f"  ({how})" if how else "")
        )
    for pending in status.pending:
        found = status.in_place.get(pending.version)
        console.print(
            f"  pending  {pending.version:03d}_{pending.name}"
            + (f"  ({', '.join(found)} found in place: `migrate` will adopt it)" if found else "")
        )
