"""`stratix-queue add NAME ...` and `add --file tasks.jsonl`, on every backend."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from stratix_queue import JobStatus, QueueService
from tests import dbs
from tests.cli.conftest import Run, one_error_line, rows


def test_add_with_every_option(run: Run, queue: QueueService, db_url: str) -> None:
    result = run(
        "add", "processData", "--executor", "dataProcessor", "--payload", '{"data": [1, "é"]}',
        "--group", "reports", "--priority", "7", "--max-attempts", "4", "--timeout", "2m",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.err == ""
    [job] = queue.list_tasks()
    assert f"added task #{job.id} (waiting)" in result.out
    assert (job.name, job.executor, job.payload, job.group) == (
        "processData",
        "dataProcessor",
        {"data": [1, "é"]},
        "reports",
    )
    assert (job.status, job.priority, job.max_attempts, job.timeout) == (
        JobStatus.WAITING,
        7,
        4,
        120.0,
    )
    assert dbs.query(db_url, "SELECT job_name, priority FROM queue_jobs") == [("processData", 7)]


def test_add_minimal_and_delayed(run: Run, queue: QueueService) -> None:
    assert run("add", "plain", "--executor", "e").code == 0
    before = datetime.now(UTC)
    result = run("add", "later", "--executor", "e", "--delay", "30s")
    assert result.code == 0, result.err
    assert "(delayed)" in result.out
    plain, later = queue.list_tasks()
    assert (plain.status, plain.payload, plain.group, plain.priority) == (
        JobStatus.WAITING,
        {},
        None,
        0,
    )
    assert later.status is JobStatus.DELAYED
    assert later.run_at is not None
    assert 25 <= (later.run_at - before).total_seconds() <= 40
    assert [j.id for j in queue.list_tasks(status="delayed")] == [later.id]


BAD_ADDS: list[tuple[list[str], int, str]] = [
    (["add", "t", "--executor", "e", "--payload", "{bad"], 2, "--payload"),
    (["add", "t", "--executor", "e", "--payload", "[1,"], 2, "not JSON"),
    (["add", "t", "--executor", "e", "--delay", "3x"], 2, "'3x' is not a duration"),
    (["add", "t", "--executor", "e", "--delay", "-5"], 1, "delay"),
    (["add", "t", "--executor", "e", "--priority", "high"], 2, "--priority"),
    (["add", "t"], 2, "--executor"),
    (["add", "", "--executor", "e"], 2, "NAME"),
    (["add", "t", "--executor", "   "], 1, "executor"),
    (["add", "t", "--executor", "e", "--max-attempts", "0"], 1, "max_attempts"),
]


def test_bad_add_writes_nothing(run: Run, db_url: str) -> None:
    for args, code, says in BAD_ADDS:
        line = one_error_line(run(*args), (code,))
        assert says in line, (args, line)
    assert rows(db_url) == 0


def test_add_file(run: Run, queue: QueueService, tmp_path: Path) -> None:
    lines = [
        json.dumps({"name": f"t{i}", "executor": "ex", "payload": {"i": i}, "group": f"g{i % 3}"})
        for i in range(1203)  # more than one insert batch (1000)
    ]
    lines[5] = json.dumps({"name": "late", "executor": "ex", "delay": "1h", "priority": 9})
    lines[6] = json.dumps({"name": "dated", "executor": "ex", "run_at": "2031-01-02T03:04:05Z"})
    lines.insert(7, "   ")  # blank lines are skipped
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("add", "--file", str(path))
    assert result.code == 0, result.err
    assert "added 1203 tasks" in result.out
    found = queue.list_tasks(limit=5000)
    assert len(found) == 1203
    assert [j.name for j in found[:4]] == ["t0", "t1", "t2", "t3"]
    assert found[0].payload == {"i": 0}
    assert found[0].group == "g0"
    late = next(j for j in found if j.name == "late")
    assert (late.status, late.priority) == (JobStatus.DELAYED, 9)
    dated = next(j for j in found if j.name == "dated")
    assert dated.run_at == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert queue.count_by_status()["waiting"] == 1201


BAD_LINES: list[tuple[str, str]] = [
    ("{not json", "line 3"),
    ('{"name": "", "executor": "ex"}', "line 3"),
    ('{"executor": "ex"}', "line 3"),
    ('["a list"]', "line 3"),
    ('{"name": "x", "executor": "ex", "delay": "3x"}', "line 3: delay: '3x' is not a duration"),
    ('{"name": "x", "executor": "ex", "run_at": "soon"}', "line 3: run_at is not an ISO 8601"),
    ('{"name": "x", "executor": "ex", "payload": {"a": 1}, "priority": "hi"}', "line 3"),
]


def test_add_file_with_one_bad_line_writes_nothing(run: Run, db_url: str, tmp_path: Path) -> None:
    good = [json.dumps({"name": f"ok{i}", "executor": "ex"}) for i in range(4)]
    path = tmp_path / "tasks.jsonl"
    for bad, says in BAD_LINES:
        path.write_text("\n".join([*good[:2], bad, *good[2:]]) + "\n", encoding="utf-8")
        line = one_error_line(run("add", "--file", str(path)), (1,))
        assert says in line, (bad, line)
    assert rows(db_url) == 0


def test_add_file_that_does_not_exist(run: Run, db_url: str, tmp_path: Path) -> None:
    line = one_error_line(run("add", "--file", str(tmp_path / "missing.jsonl")), (2,))
    assert "missing.jsonl" in line
    assert rows(db_url) == 0
