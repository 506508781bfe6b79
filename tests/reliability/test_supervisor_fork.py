"""Forked worker processes: with the URL given, the supervisor never imports the application (each
child imports it itself, as a fresh process would) and every child runs tasks on connections of
its own; without it, children inherit the module but still open their own connections."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from stratix_queue import QueueService

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
APP = """
import os
from stratix_queue import QueueService

with open(os.path.join(os.environ["FORK_TEST_DIR"], "imports"), "a") as sink:
    sink.write(f"{os.getpid()}\\n")
queue = QueueService(os.environ.get("FORK_TEST_APP_URL"))


@queue.executor("note")
def note(payload):
    with open(os.path.join(os.environ["FORK_TEST_DIR"], "runs"), "a") as sink:
        sink.write(f"{payload['i']} {os.getpid()}\\n")
"""


def _run(db_url: str, tmp_path: Path, *, url_flag: bool) -> tuple[int, list[int], list[str]]:
    (tmp_path / "forkapp.py").write_text(APP)
    env = {
        **os.environ,
        "FORK_TEST_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "FORK_TEST_APP_URL": db_url,
    }
    env.pop("STRATIX_QUEUE_URL", None)
    args = [sys.executable, "-m", "stratix_queue"]
    args += ["--url", db_url] if url_flag else []
    args += [
        "worker",
        "--app",
        "forkapp:queue",
        "--processes",
        "2",
        "--burst",
        "--concurrency",
        "2",
    ]
    proc = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    imports = [int(x) for x in (tmp_path / "imports").read_text().split()]
    runs = (tmp_path / "runs").read_text().splitlines()
    return proc.pid, imports, runs


@pytest.mark.parametrize("url_flag", [True, False], ids=["url-given", "url-from-app"])
def test_forked_children_run_every_task_once_on_their_own_connections(
    db_url: str, tmp_path: Path, url_flag: bool
) -> None:
    with QueueService(db_url) as producer:
        producer.add_tasks(
            [{"name": "n", "executor": "note", "payload": {"i": i}} for i in range(200)]
        )
    supervisor, imports, runs = _run(db_url, tmp_path, url_flag=url_flag)
    counts = Counter(line.split()[0] for line in runs)
    assert sorted(counts) == sorted(str(i) for i in range(200))
    assert set(counts.values()) == {1}
    runners = {int(line.split()[1]) for line in runs}
    assert supervisor not in runners  # tasks run in the children only
    if url_flag:
        assert supervisor not in imports and len(imports) == 2  # each child imported it
        assert runners <= set(imports)
    else:
        assert imports == [supervisor]  # imported once, to learn the URL, then inherited
