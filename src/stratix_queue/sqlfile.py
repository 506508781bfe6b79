"""Load SQL kept in ``.sql`` files as named blocks (``-- name: block_name``)."""

from __future__ import annotations

import os
import re

# The package's own files, read with the os module: importlib.resources would cost every
# process ~7 ms of imports (pathlib, tempfile, zipfile support) for a package never zipped.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$")


def parse_blocks(text: str) -> dict[str, str]:
    """Split SQL text into named blocks; lines before the first name are a header and ignored."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _NAME.match(line.strip())
        if match:
            name = match.group(1)
            if name in blocks:
                raise ValueError(f"SQL block {name!r} is defined twice")
            current = blocks[name] = []
        elif current is not None:
            current.append(line)
    return {name: _strip(lines) for name, lines in blocks.items()}


def _strip(lines: list[str]) -> str:
    body = [line for line in lines if not line.lstrip().startswith("--")]
    return "\n".join(body).strip().rstrip(";").strip()


def load_queries(package_dir: str) -> dict[str, str]:
    """The named queries of one database, from the ``.sql`` files of its package
    (``queries.sql`` for tasks and outcomes, one more file per ledger); each is one statement
    (an operation of several names them in order, in Python) and each name is used once."""
    queries: dict[str, str] = {}
    for file_name in sorted(os.listdir(package_dir)):
        if not file_name.endswith(".sql"):
            continue
        path = os.path.join(package_dir, file_name)
        with open(path, encoding="utf-8") as file:
            blocks = parse_blocks(file.read())
        for name, sql in blocks.items():
            if name in queries:
                raise ValueError(f"{path}: query {name!r} is defined in two files")
            if len(split_statements(sql + ";")) != 1:
                raise ValueError(f"{path}: query {name!r} is not one statement")
            queries[name] = sql
    return queries


def read_package_file(*parts: str) -> str:
    """The text of a file of the package, by its path below ``stratix_queue/``."""
    with open(os.path.join(PACKAGE_DIR, *parts), encoding="utf-8") as file:
        return file.read()


def split_statements(script: str) -> list[str]:
    """Split a migration script on semicolons that end a line (no ';' ends a line in strings)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        if line.lstrip().startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement:
                statements.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail and not all(line.lstrip().startswith("--") for line in tail.splitlines()):
        statements.append(tail)
    return statements
