"""stratix-queue add, tasks list, tasks show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from stratix_queue.cli.common import (
    Duration,
    State,
    app_option,
    console,
    json_option,
    page_title,
    pass_state,
    print_json,
    table,
    when,
)
from stratix_queue.cli.finished import show_finished
from stratix_queue.cli.root import cli
from stratix_queue.errors import StratixQueueError
from stratix_queue.job import AttemptError, Job, JobStatus, Unreadable
from stratix_queue.literal import block
from stratix_queue.validation import new_job

FILE_BATCH = 1000


NO_DEFAULTS = "executor defaults need --app"


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"not JSON: {exc.msg} at character {exc.pos}", param_hint="--payload"
        ) from None
    except RecursionError:
        raise click.BadParameter("JSON nested too deeply", param_hint="--payload") from None


@cli.command(
    epilog="Examples: stratix-queue add processData --executor dataProcessor "
    "--payload '{\"data\": 1}' --group reports --delay 30s\n\n"
    "stratix-queue add --file tasks.jsonl   (one JSON task per line)"
)
@click.argument("name", required=False)
@click.option("--executor", help="Executor that runs the task.")
@click.option("--payload", help="JSON payload.")
@click.option("--group", help="Group (for pausing and stats).")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--delay", type=Duration(), help="Run after this long, e.g. 30s, 5m.")
@click.option("--max-attempts", type=int, help="Attempts before the task is marked failed.")
@click.option("--timeout", type=Duration(), help="Time limit per attempt.")
@click.option("--unique-key", help="Add nothing while a task holding this key exists.")
@click.option(
    "--unique-while-failed",
    is_flag=True,
    help="The key stays held while the task is failed (with --unique-key).",
)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Add every task of a JSON Lines file.",
)
@app_option("Take executor defaults (max attempts) from this application: package.module:queue.")
@pass_state
def add(
    state: State,
    name: str | None,
    executor: str | None,
    payload: str | None,
    group: str | None,
    priority: int,
    delay: float | None,
    max_attempts: int | None,
    timeout: float | None,
    unique_key: str | None,
    unique_while_failed: bool,
    path: Path | None,
    app: str | None,
) -> None:
    """Add a task (or a file of tasks)."""
    if path is not None:
        if app:
            state.use_app(app)
        _add_file(state, path, defaults=app is not None)
        return
    if not name or not executor:
        raise click.UsageError("give NAME and --executor (or --file)")
    data = _payload(payload)  # a usage error, found before the application is imported
    queue = state.use_app(app) if app else state.queue
    job = queue.add_task(
        name=name,
        executor=executor,
        payload=data,
        group=group,
        priority=priority,
        delay=delay,
        max_attempts=max_attempts,
        timeout=timeout,
        unique_key=unique_key,
        unique_while_failed=unique_while_failed,
    )
    if job.duplicate:
        console.print(
            f"not added: task #{job.id} ({job.status.value}) holds unique key {unique_key!r}"
        )
        return
    # Without --app this process knows no executor, so none of their defaults apply: say so.
    note = "" if app or max_attempts is not None else f" ({NO_DEFAULTS})"
    console.print(
        f"added task #{job.id} ({job.status.value}); max attempts {job.max_attempts}{note}"
    )


def _add_file(state: State, path: Path, defaults: bool) -> None:
    queue = state.queue
    numbered = [(n, _file_task(path, line, n)) for n, line in _read_lines(path) if line.strip()]
    for number, task in numbered:  # validate everything first: bad input writes nothing
        try:
            new_job(
                task,
                default_max_attempts=queue.executors.default_max_attempts(
                    str(task.get("executor"))
                ),
                max_payload_bytes=queue.max_payload_bytes,
            )
        except StratixQueueError as exc:
            raise click.ClickException(f"{path}: line {number}: {exc}") from None
    tasks = [task for _, task in numbered]
    from rich.progress import Progress

    with Progress(
        console=console.get(), transient=True, disable=not console.is_terminal
    ) as progress:
        bar = progress.add_task("adding", total=len(tasks))
        for start in range(0, len(tasks), FILE_BATCH):
            state.queue.add_tasks(tasks[start : start + FILE_BATCH])
            progress.advance(bar, len(tasks[start : start + FILE_BATCH]))
    unset = sum("max_attempts" not in task for task in tasks)
    note = f"; {unset} without max_attempts got 1 ({NO_DEFAULTS})" if unset and not defaults else ""
    console.print(f"added {len(tasks)} tasks from {path}{note}")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise click.ClickException(
            f"{path}: line {line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})"
        ) from None
    return list(enumerate(text.splitlines(), 1))


def _file_task(path: Path, line: str, number: int) -> dict[str, Any]:
    try:
        task = json.loads(line)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: line {number}: not JSON: {exc.msg}") from None
    except RecursionError:
        raise click.ClickException(f"{path}: line {number}: JSON nested too deeply") from None
    if not isinstance(task, dict):
        raise click.ClickException(f"{path}: line {number}: not a JSON object")
    return task  # delay and timeout as text ('1h'), run_at as ISO 8601: add_tasks reads them


@cli.group(epilog="Example: stratix-queue tasks list --status failed --limit 20")
def tasks() -> None:
    """List and inspect tasks in queue_jobs."""


def job_rows(jobs: list[Job]) -> list[list[Any]]:
    return [
        [
            j.id,
            j.name,
            j.executor,
            j.group or "-",
            j.status.value,
            j.priority,
            f"{j.attempts}/{j.max_attempts}",
            when(j.run_at),
            j.error_code or "",
        ]
        for j in jobs
    ]


JOB_COLUMNS = ["id", "name", "executor", "group", "status", "prio", "tries", "run at", "error"]


@tasks.command("list", epilog="Example: stratix-queue tasks list --status waiting --group reports")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), help="Only this status.")
@click.option("--group", help="Only this group.")
@click.option("--executor", help="Only this executor.")
@click.option("--limit", type=click.IntRange(0, 100_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@json_option
@pass_state
def tasks_list(
    state: State,
    status: str | None,
    group: str | None,
    executor: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List tasks (oldest first)."""
    found = state.queue.list_tasks(status, group, executor, limit, offset)
    if as_json:
        print_json(found)
        return
    total = None
    if offset or len(found) == limit:  # the page may not hold them all: count them if cheap
        total = _total(state, status, group, executor)
    table(page_title("task(s)", len(found), total, limit, offset), JOB_COLUMNS, job_rows(found))


def _total(state: State, status: str | None, group: str | None, executor: str | None) -> int | None:
    """How many tasks match, from the counts by status (and group); None with --executor."""
    if executor is not None:
        return None
    if group is None:
        counts = state.queue.count_by_status()
    else:
        found = [g.counts for g in state.queue.list_groups() if g.name == group]
        counts = found[0] if found else {}
    return counts.get(status, 0) if status else sum(counts.values())


@tasks.command("show", epilog="Example: stratix-queue tasks show 42")
@click.argument("task_id", type=int)
@json_option
@pass_state
def tasks_show(state: State, task_id: int, as_json: bool) -> None:
    """Show one task: payload, error stack and attempt history."""
    show_task(state, task_id, as_json)


def _payload_text(payload: Any) -> str:
    if isinstance(payload, Unreadable):  # a row another client wrote: say why, do not fail
        return f"unreadable ({payload.code}): {payload.message}"
    return json.dumps(payload, ensure_ascii=False)


def show_task(state: State, task_id: int, as_json: bool) -> None:
    record = state.queue.find_task(task_id)
    if record is None:
        raise click.ClickException(
            f"no task #{task_id} in queue_jobs, queue_success or the removed tasks (never "
            "added, or pruned past its retention)"
        )
    history = state.queue.get_task_errors(task_id)
    if as_json:
        print_json({"where": record.where, "task": record.job or record, "attempt_errors": history})
        return
    if record.job is None:
        show_finished(record)
    else:
        _show_job(record.job)
    _show_history(history)


def _show_job(job: Job) -> None:
    table(
        f"task #{job.id}",
        ["field", "value"],
        [
            ["name", job.name],
            ["executor", job.executor],
            ["group", job.group or "-"],
            *([["unique key", job.unique_key]] if job.unique_key is not None else []),
            ["status", job.status.value],
            ["priority", job.priority],
            ["attempts", f"{job.attempts}/{job.max_attempts}"],
            ["created", when(job.created_at)],
            ["run at", when(job.run_at)],
            ["failed at", when(job.failed_at)],
            ["error code", job.error_code or "-"],
            ["error", job.error_message or "-"],
            ["payload", _payload_text(job.payload)],
        ],
    )
    if job.error_stack:  # framed, so no line of it can pass for a line of ours
        from rich.panel import Panel

        stack = block(job.error_stack.rstrip("\n"))
        console.print(Panel(stack, title="error stack", title_align="left", expand=False))


def _show_history(history: list[AttemptError]) -> None:
    if history:
        table(
            "attempt history",
            ["attempt", "code", "message", "worker", "failed at"],
            [[e.attempt, e.code, e.message, e.worker_id, when(e.failed_at)] for e in history],
        )
