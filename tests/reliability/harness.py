"""Run real worker processes (`python -m stratix_queue worker`) and read what they did."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.app:queue"


@dataclass(frozen=True)
class Run:
    task_id: int
    attempt: int
    pid: int
    phase: str
    started: float
    at: float


class Workers:
    """Worker processes of one test, with their logs and run records in ``folder``."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.runs_dir = folder / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "STRATIX_QUEUE_URL": self.url,
            "STRATIX_TEST_RUNS_DIR": str(self.runs_dir),
        }
        log = open(self.folder / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        self._logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "stratix_queue", "worker", "--app", APP, *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def log(self, index: int = 0) -> str:
        return (self.folder / f"worker-{index}.log").read_text(errors="replace")

    def runs(self) -> list[Run]:
        runs = []
        for path in self.runs_dir.glob("runs-*.log"):
            for line in path.read_text().splitlines():
                task, attempt, pid, phase, started, at = line.split()
                runs.append(
                    Run(int(task), int(attempt), int(pid), phase, float(started), float(at))
                )
        return runs

    def ends_by_task(self) -> dict[int, int]:
        ends: dict[int, int] = defaultdict(int)
        for run in self.runs():
            if run.phase == "end":
                ends[run.task_id] += 1
        return dict(ends)

    def stop_all(self) -> None:
        """Stop every worker and its children now. Two SIGTERMs make a worker (and, through the
        supervisor, its child processes) exit at once; a SIGKILLed supervisor would leave its
        children working on this database into the next test."""
        alive = [proc for proc in self.procs if proc.poll() is None]
        for proc in alive:
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        for proc in alive:
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        for proc in alive:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for log in self._logs:
            log.close()


def no_overlap(runs: list[Run]) -> bool:
    """No task had two runs whose [start, end] intervals overlap."""
    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        if run.phase == "end":
            spans[run.task_id].append((run.started, run.at))
    for intervals in spans.values():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            if start < end:
                return False
    return True


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
