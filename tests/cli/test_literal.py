"""What the database holds is shown as text, never interpreted: Rich markup, terminal escapes
(CSI, OSC title and OSC 8 links, C1 controls), bidi overrides and newlines stored in a task
(through the API and through raw SQL) reach neither a terminal nor a pipe raw. Each command runs
once as a real process through a pseudo-terminal (so Rich renders for a terminal) and once
in-process with its output captured as by a pipe."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stratix_queue import QueueService
from stratix_queue.urls import URL_ENV
from tests import dbs
from tests.cli.conftest import invoke

ROOT = Path(__file__).resolve().parents[2]

LINK = "[link=http://evil.example/]click[/link]"
OSC8 = "\x1b]8;;http://evil.example/\x1b\\osc8\x1b]8;;\x1b\\"
GROUP = "g\u202eevil[blink]b[/blink]"
MESSAGE = "\x1b[2J\x1b]0;pwned\x07boom\nstratix-queue: error: fake"
CODE = "E\x9b31m\x7f"
STACK = f'Traceback (most recent call last):\n  File "app.py", line 1\n{MESSAGE}'

# What must never reach the output raw: clear screen, window title, any OSC 8 hyperlink, BEL,
# the C1 CSI, DEL, a bidi override, and the SGR codes [blink] or a link would turn into.
RAW = ["\x1b[2J", "\x1b]0;", "\x1b]8;", "\x07", "\x9b", "\x7f", "\u202e", "\x1b[5m"]


def _env(db_url: str, terminal: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {URL_ENV, "NO_COLOR", "FORCE_COLOR"}}
    env.update({URL_ENV: db_url, "COLUMNS": "250", "TERM": "xterm-256color" if terminal else ""})
    return env


def in_terminal(db_url: str, *args: str) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal 250 columns wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    child = subprocess.Popen(
        [sys.executable, "-m", "stratix_queue", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=_env(db_url, terminal=True),
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1.0)[0]:
                if child.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = child.wait(timeout=10)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


MODES = ("terminal", "pipe")
Runner = Callable[..., tuple[int, str]]


@pytest.fixture
def run_mode(
    mode: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Runner:
    """``run(db_url, *args)``: (exit code, stdout + stderr) of the command, through a
    pseudo-terminal in its own process, or into a pipe: the CLI in-process (tests/cli/conftest.py),
    its output captured as by a pipe (not a terminal), with the process's environment."""
    if mode == "terminal":
        return in_terminal

    def piped(db_url: str, *args: str) -> tuple[int, str]:
        for name in ("NO_COLOR", "FORCE_COLOR"):  # as _env(db_url, terminal=False)
            monkeypatch.delenv(name, raising=False)
        for name, value in {URL_ENV: db_url, "COLUMNS": "250", "TERM": ""}.items():
            monkeypatch.setenv(name, value)
        result = invoke(capsys, monkeypatch, list(args))
        output = result.out + result.err
        output.encode("utf-8")  # strict: no stray surrogate
        return result.code, output

    return piped


def assert_literal(output: str, *shown: str) -> None:
    for raw in RAW:
        assert raw not in output, (raw, output)
    for line in output.splitlines():
        assert not line.startswith("stratix-queue: error: fake"), output
    for text in shown:
        assert text in output, (text, output)


@pytest.fixture
def evil(queue: QueueService, db_url: str) -> dict[str, int]:
    """A failed task written through the API, another rewritten by raw SQL, a worker row and a
    migration name with the same values."""
    job = queue.add_task(name=LINK, executor=OSC8, group=GROUP, payload={"k": MESSAGE})
    assert queue.repository.mark_as_failed(job, {"message": MESSAGE, "stack": STACK, "code": CODE})
    raw = queue.add_task(name="plain", executor="e")
    dbs.query(
        db_url,
        "UPDATE queue_jobs SET job_name = %s, executor = %s, group_name = %s, status = 'failed',"
        " error_message = %s, error_stack = %s, error_code = %s, failed_at = updated_at"
        " WHERE id = %s",
        [f"{LINK}\n{MESSAGE}", OSC8, GROUP, MESSAGE + "\u2028x", STACK, CODE, raw.id],
    )
    dbs.query(
        db_url,
        "INSERT INTO queue_workers (id, hostname, pid, concurrency, group_names)"
        " VALUES (%s, %s, 1, 2, %s)",
        [f"host:{OSC8}", "host", json.dumps([GROUP])],
    )
    dbs.query(db_url, "UPDATE stratix_queue_migrations SET name = %s WHERE version = 1", [LINK])
    return {"api": job.id, "sql": raw.id}


@pytest.mark.parametrize("mode", MODES)
def test_read_commands_show_stored_text_literally(
    db_url: str, evil: dict[str, int], mode: str, run_mode: Runner
) -> None:
    for args in (["failed", "list"], ["tasks", "list"]):  # narrow cells: shorter checks
        code, output = run_mode(db_url, *args)
        assert code == 0, output
        assert_literal(output, "E\\x9b31m\\x7f", "[link=http://")
        if mode == "terminal":  # Rich did render for a terminal: its own styles are there
            assert "\x1b[1m" in output
    visible = [LINK, "\\x1b]8;;http://evil.example/\\x1b\\osc8", "g\\u202eevil[blink]b[/blink]"]
    for task_id in evil.values():
        for command in ("failed", "tasks"):
            code, output = run_mode(db_url, command, "show", str(task_id))
            assert code == 0, output
            assert_literal(output, *visible, "E\\x9b31m\\x7f", "\\x1b[2J\\x1b]0;pwned\\x07boom")
    code, output = run_mode(db_url, "failed", "stats")
    assert code == 0, output
    assert_literal(output, "\\x1b]8;;http://evil.example/\\x1b\\osc8", "E\\x9b31m\\x7f")
    code, output = run_mode(db_url, "groups", "list")
    assert_literal(output, "g\\u202eevil[blink]b[/blink]")
    code, output = run_mode(db_url, "workers")
    assert_literal(output, "host:\\x1b]8;;http://evil.example/", "g\\u202eevil[blink]")
    code, output = run_mode(db_url, "migrate", "status")
    assert_literal(output, f"001_{LINK}")


@pytest.mark.parametrize("mode", MODES)
def test_one_line_cells_show_newlines(
    db_url: str, evil: dict[str, int], mode: str, run_mode: Runner
) -> None:
    code, output = run_mode(db_url, "tasks", "show", str(evil["sql"]))
    assert code == 0, output
    assert "boom\\nstratix-queue: error: fake\\u2028x" in output  # the error cell: one line
    assert f"{LINK}\\n\\x1b[2J" in output  # the name cell
    stack = output[output.index("error stack") :]
    assert "│ stratix-queue: error: fake" in stack  # the stack keeps its lines, in a frame


@pytest.mark.parametrize("mode", MODES)
def test_json_is_exact_and_escaped(
    db_url: str, evil: dict[str, int], mode: str, run_mode: Runner
) -> None:
    code, output = run_mode(db_url, "failed", "list", "--json")
    assert code == 0, output
    assert_literal(output)
    found = {task["id"]: task for task in json.loads(output)}
    api, sql = found[evil["api"]], found[evil["sql"]]
    assert (api["name"], api["executor"], api["group"]) == (LINK, OSC8, GROUP)
    assert (api["error_message"], api["error_stack"], api["error_code"]) == (MESSAGE, STACK, CODE)
    assert api["payload"] == {"k": MESSAGE}
    assert (sql["name"], sql["error_message"]) == (f"{LINK}\n{MESSAGE}", MESSAGE + "\u2028x")
    assert "\\u009b" in output and "\\u202e" in output and "\\u2028" in output


@pytest.mark.parametrize("mode", MODES)
def test_echoed_input_and_error_lines(
    db_url: str, queue: QueueService, mode: str, run_mode: Runner
) -> None:
    code, output = run_mode(db_url, "groups", "pause", GROUP)
    assert code == 0, output
    assert_literal(output, "paused group 'g\\u202eevil[blink]b[/blink]'")
    code, output = run_mode(db_url, f"frobnicate{MESSAGE}")
    assert code == 2
    assert_literal(output, "No such command 'frobnicate\\x1b[2J\\x1b]0;pwned\\x07boom")
    assert len(output.strip().splitlines()) == 1, output
