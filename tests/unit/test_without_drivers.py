"""The unit tests need neither database driver: tests/dbs.py and the tests import psycopg and
PyMySQL only where they use them. Proved by running tests/unit where importing either fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT)


def test_the_unit_tests_pass_without_psycopg_and_pymysql(tmp_path: Path) -> None:
    for driver in ("psycopg", "pymysql"):  # found before the installed ones, and failing
        (tmp_path / f"{driver}.py").write_text(
            f"raise ImportError('{driver} is hidden by {THIS}')\n"
        )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/unit",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--ignore={THIS}",  # not itself again
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # the hidden drivers were really in the way: the tests that need one were skipped
    assert "could not import 'psycopg'" in output, output
    assert "could not import 'pymysql'" in output, output
    assert " passed" in output, output
