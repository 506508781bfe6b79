"""stratix-queue failed retry|discard and tasks cancel: operator actions, audited as --actor
(default: the OS user) with --reason. By ids they act at once; ``--all`` with the filter
options shows a dry run, asks, then makes a plan and runs it with a progress bar (Ctrl-C
pauses it; ``plans resume`` continues)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stratix_queue.cli.common import State, console, error_line, pass_state, table
from stratix_queue.cli.failed import failed
from stratix_queue.cli.filter_options import failure_filter, filter_options
from stratix_queue.cli.tasks import JOB_COLUMNS, _payload, job_rows, tasks
from stratix_queue.errors import InvalidInputError
from stratix_queue.literal import styled

if TYPE_CHECKING:
    from rich.text import Text

    from stratix_queue.records import ActionResult, DryRun, Plan

F = TypeVar("F", bound=Callable[..., Any])
PAST = {"retry": "retried", "discard": "discarded"}


def actor_options(func: F) -> F:
    func = click.option("--reason", help="Why: kept in the audit (stratix-queue audit).")(func)
    return click.option("--actor", metavar="NAME", help="Who acts (default: the OS user).")(func)


def _rate(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    from stratix_queue.plans import parse_rate

    if value is None:
        return None
    try:
        return parse_rate(value)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc)) from None


def bulk_options(func: F) -> F:
    """Ids, or --all with the filter, pace and confirmation options."""
    for option in reversed(
        (
            click.argument("task_ids", nargs=-1, type=int),
            click.option("--all", "every", is_flag=True, help="Every failed task that matches."),
            click.option("--rate", callback=_rate, help="With --all: at most this pace (100/s)."),
            click.option(
                "--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True
            ),
            click.option("--yes", is_flag=True, help="Do not ask for confirmation."),
            click.option("--dry-run", is_flag=True, help="Show what --all would do, then stop."),
        )
    ):
        func = option(func)
    return actor_options(filter_options(func))


BULK_ONLY = ("rate", "dry_run")  # and the filter's options


def _check_usage(ids: tuple[int, ...], every: bool, options: dict[str, Any]) -> None:
    """Ids, or --all: the filter, --rate and --dry-run go with --all only."""
    if every == bool(ids):
        raise click.UsageError("give task ids, or --all (with optional filters)")
    from stratix_queue.failure_filter import FILTER_FIELDS

    bulk_only = (*FILTER_FIELDS, *BULK_ONLY)
    given = [f"--{key.replace('_', '-')}" for key in bulk_only if options[key] not in (None, False)]
    if ids and given:
        raise click.UsageError(f"{', '.join(given)}: only with --all")


@failed.command(
    "retry",
    epilog="Examples: stratix-queue failed retry 12 13\n\n"
    "stratix-queue failed retry 12 --payload '{\"currency\": \"GBP\"}' --reason 'typo fixed'\n\n"
    "stratix-queue failed retry --all --executor convert --code LookupError --rate 100/s",
)
@bulk_options
@click.option("--payload", help="With one id: retry with this JSON payload instead.")
@pass_state
def failed_retry(state: State, /, task_ids: tuple[int, ...], every: bool, **options: Any) -> None:
    """Reset failed tasks to waiting: by id, or --all that match the filters (as a plan)."""
    payload_text = options.pop("payload")
    _check_usage(task_ids, every, options)
    if payload_text is not None and len(task_ids) != 1:
        raise click.UsageError("--payload goes with one task id")
    if every:
        _bulk(state, "retry", options)
        return
    queue, who = state.queue, _who(options)
    if payload_text is not None:
        ok = queue.retry_failed_task(task_ids[0], _payload(payload_text), **who)
        succeeded, failed_ids = ([task_ids[0]], []) if ok else ([], [task_ids[0]])
    else:
        result = queue.retry_failed_tasks(list(task_ids), **who)
        succeeded, failed_ids = result.success, result.failed
    console.print(_retried_line(len(succeeded), len(failed_ids)))
    if failed_ids:
        click.get_current_context().exit(1)


@failed.command(
    "discard",
    epilog="Examples: stratix-queue failed discard 12 13 --reason 'duplicates'\n\n"
    "stratix-queue failed discard --all --executor old_import --yes",
)
@bulk_options
@pass_state
def failed_discard(state: State, /, task_ids: tuple[int, ...], every: bool, **options: Any) -> None:
    """Remove failed tasks (kept in queue_removed for the retention period): by id, or --all
    that match the filters (as a plan)."""
    _check_usage(task_ids, every, options)
    if every:
        _bulk(state, "discard", options)
        return
    result = state.queue.discard_failed_tasks(list(task_ids), **_who(options))
    _report("discarded", result)


@tasks.command("cancel", epilog="Example: stratix-queue tasks cancel 12 13 --reason 'wrong input'")
@click.argument("task_ids", nargs=-1, type=int, required=True)
@actor_options
@pass_state
def tasks_cancel(
    state: State, task_ids: tuple[int, ...], actor: str | None, reason: str | None
) -> None:
    """Cancel waiting, delayed or paused tasks (kept in queue_removed for the retention
    period); an executing task cannot be cancelled."""
    _report("cancelled", state.queue.cancel_tasks(list(task_ids), actor=actor, reason=reason))


def _retried_line(succeeded: int, failed: int) -> Text:
    return styled(
        "retried: ",
        (str(succeeded), "green"),
        f" succeeded, {failed} failed (not failed any more, or not found)",
    )


def _who(options: dict[str, Any]) -> dict[str, Any]:
    return {"actor": options["actor"], "reason": options["reason"]}


def _report(done: str, result: ActionResult) -> None:
    console.print(
        styled(
            f"{done}: ", (str(len(result.done)), "green"), f", not {done}: {len(result.not_done)}"
        )
    )
    for task_id, why in result.not_done.items():
        console.print(f"  #{task_id}: {why}")
    if result.not_done:
        click.get_current_context().exit(1)


def _bulk(state: State, action: str, options: dict[str, Any]) -> None:
    queue = state.queue
    failures = failure_filter(options)
    preview = queue.dry_run(action, failures)
    show_dry_run(preview)
    if options["dry_run"] or not preview.count:
        return
    if not options["yes"]:
        click.confirm(f"{action.capitalize()} {preview.count} task(s)?", abort=True, err=True)
    plan = queue.create_plan(
        action, failures, options["rate"], options["batch_size"], **_who(options)
    )
    console.print(f"plan #{plan.id}: {plan.total} task(s) to {action}")
    run_with_progress(state, plan, lambda report: queue.run_plan(plan.id, report, **_who(options)))


def show_dry_run(preview: DryRun) -> None:
    console.print(f"{preview.count} failed task(s) match")
    if preview.sample:
        table(f"sample ({len(preview.sample)})", JOB_COLUMNS, job_rows(preview.sample))
    for conflict in preview.conflicts:
        names = ", ".join(conflict.names)
        console.print(styled(("note: ", "yellow"), f"{conflict.count} {conflict.reason}: {names}"))
    console.print(f"same as: {preview.command}")


def run_with_progress(
    state: State, plan: Plan, run: Callable[[Callable[[Plan], None]], Plan]
) -> None:
    """Run the plan with a progress bar; Ctrl-C pauses it and says how to resume."""
    from rich.progress import Progress

    with Progress(console=console.get(), transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(PAST.get(plan.action, plan.action), total=plan.total)

        def report(now: Plan) -> None:
            bar.update(task, completed=now.done + now.skipped)

        try:
            plan = run(report)
        except KeyboardInterrupt:
            plan = state.queue.pause_plan(plan.id, reason="interrupted (Ctrl-C)")
            error_line(
                f"interrupted: plan #{plan.id} paused after {plan.done + plan.skipped} of "
                f"{plan.total}; resume with: stratix-queue plans resume {plan.id}"
            )
            click.get_current_context().exit(1)
    print_outcome(plan)


def print_outcome(plan: Plan) -> None:
    past = PAST.get(plan.action, plan.action)
    console.print(
        styled(
            f"plan #{plan.id} {plan.status}: ",
            (str(plan.done), "green"),
            f" {past}, {plan.skipped} skipped (no longer failed), {plan.pending} pending",
        )
    )
    if plan.action == "retry":  # the line of `failed retry` by ids, which scripts read
        console.print(_retried_line(plan.done, plan.skipped))
