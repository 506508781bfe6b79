"""`make demo` ends with commands to try: they work as printed, from another directory."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import ROOT


def test_demo_prints_commands_that_work(tmp_path: Path) -> None:
    demo = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    lines = demo.stdout.splitlines()
    commands = lines[lines.index(next(x for x in lines if "look at it with" in x)) + 1 :]
    assert len(commands) == 3, commands
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in commands:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=60, cwd=elsewhere,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
    stats = subprocess.run(shlex.split(commands[0]), capture_output=True, text=True, check=False)
    assert "succeeded in the last hour: 3000" in stats.stdout
    assert f"sqlite:///{tmp_path}/stratix-queue.db" in commands[0]
