"""Run the real CLI in-process (``stratix_queue.cli.root.main``) and check what it wrote."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.cli.root import main
from stratix_queue.urls import URL_ENV
from tests import dbs

ROOT = Path(__file__).resolve().parents[2]
ERROR = {"message": "boom", "stack": "Traceback (most recent call last):\nValueError: boom"}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


Run = Callable[..., Result]


def invoke(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: str | None = None,
) -> Result:
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    code = main(args)
    out, err = capsys.readouterr()
    return Result(code, out, err)


@pytest.fixture
def run(db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run("tasks", "list", stdin="y\\n")``: the CLI with ``--url`` set to the test database."""
    monkeypatch.delenv(URL_ENV, raising=False)

    def call(*args: str, stdin: str | None = None) -> Result:
        return invoke(capsys, monkeypatch, ["--url", db_url, *args], stdin)

    return call


@pytest.fixture
def run_bare(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI without a test database (URL given by the test itself)."""
    monkeypatch.delenv(URL_ENV, raising=False)

    def call(*args: str, stdin: str | None = None) -> Result:
        return invoke(capsys, monkeypatch, list(args), stdin)

    return call


def cli(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m stratix_queue ARGS`` as a real process."""
    base = {k: v for k, v in os.environ.items() if k != URL_ENV and not k.startswith("_STRATIX")}
    return subprocess.run(
        [sys.executable, "-m", "stratix_queue", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**base, **(env or {})},
        check=False,
    )


def one_error_line(result: Result, codes: tuple[int, ...] = (1, 2)) -> str:
    """The run failed with one line on stderr, no traceback; returns that line."""
    assert result.code in codes, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("stratix-queue: "), lines[0]
    return lines[0]


def rows(url: str, table: str = "queue_jobs") -> int:
    return int(dbs.scalar(url, f"SELECT COUNT(*) FROM {table}"))


def statuses(url: str) -> dict[int, str]:
    return {int(i): s for i, s in dbs.query(url, "SELECT id, status FROM queue_jobs")}


def make_failed(
    queue: QueueService,
    name: str = "n",
    executor: str = "e",
    group: str | None = None,
    code: str = "E_BOOM",
) -> int:
    """A failed task (marked directly, no attempt history)."""
    job = queue.add_task(name=name, executor=executor, group=group, payload={"name": name})
    assert queue.repository.mark_as_failed(job, {**ERROR, "code": code})
    return job.id


def make_failed_by_worker(queue: QueueService) -> int:
    """A task that failed twice through a real worker: error stack and attempt history."""

    @queue.executor("breaks", max_attempts=2, backoff=0)
    def breaks(payload: Any) -> None:
        raise ValueError(f"cannot convert {payload['n']}")

    job = queue.add_task(name="convert", executor="breaks", payload={"n": 7}, group="reports")
    queue.run_worker(concurrency=1, burst=True, poll_interval=0.05)
    return job.id


def make_succeeded(queue: QueueService, name: str = "ok", group: str | None = None) -> int:
    job = queue.add_task(name=name, executor="e", group=group)
    assert queue.repository.move_to_success(job, 5)
    return job.id
