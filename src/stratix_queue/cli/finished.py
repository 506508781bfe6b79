"""`tasks show` for a task that left queue_jobs: succeeded (queue_success), or discarded or
cancelled (removed), as ``QueueService.find_task`` found it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stratix_queue.cli.common import table, when

if TYPE_CHECKING:
    from stratix_queue.task_record import TaskRecord


def show_finished(record: TaskRecord) -> None:
    from stratix_queue.task_record import SUCCEEDED

    rows: list[list[Any]] = [
        ["where", record.where],
        ["status", record.status],
        ["name", record.name],
        ["executor", record.executor],
        ["group", record.group or "-"],
        ["priority", record.priority],
        ["attempts", record.attempts],
        ["created", when(record.created_at)],
    ]
    if record.where == SUCCEEDED:
        ms = record.execution_time_ms
        rows += [
            ["started", when(record.started_at)],
            ["completed", when(record.completed_at)],
            ["execution time", "-" if ms is None else f"{ms} ms"],
        ]
    else:
        rows += [
            ["removed", when(record.removed_at)],
            ["removed by", record.removed_by or "-"],
            ["reason", record.reason or "-"],
            ["status before", record.status_before or "-"],
            ["failed at", when(record.failed_at)],
            ["error code", record.error_code or "-"],
            ["error", record.error_message or "-"],
        ]
    rows.append(["payload", json.dumps(record.payload, ensure_ascii=False)])
    table(f"task #{record.id}", ["field", "value"], rows)
