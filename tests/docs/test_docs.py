"""Every code example in docs/*.md runs here, so the docs cannot rot.

How a Markdown file's fenced blocks are treated:

- ```python blocks run in order, in ONE namespace per file, with a fresh temporary directory as
  the working directory and ``STRATIX_QUEUE_URL`` pointing at a fresh SQLite file in it.
- ```console blocks hold commands, lines starting with ``$ stratix-queue``; each runs in-process
  through ``stratix_queue.cli.root.main`` and must exit 0, or the code a trailing ``# exit N``
  comment names. The other lines are expected output: each must appear, in order, as a whole line
  of what the command printed (stdout, then stderr), whitespace collapsed, ``...`` matching
  anything. Lines may be left out.
- A block right after ``<!-- file: NAME -->`` is written to NAME in that directory (a module
  that later examples import, a JSON Lines file for ``add --file``) instead of being run.
- Every other language (``text``, ``sh``, ``sql``, ...) is not run: keep those few.

One pytest case per block (id ``file:line``); selecting one case runs the blocks before it first.
The Python examples of the files in SERVER_DOCS also run against PostgreSQL and MariaDB
(console examples only on SQLite: they name task ids, which on a fresh PostgreSQL database
start at 2).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

from stratix_queue import QueueService
from stratix_queue.cli.root import cli, main
from stratix_queue.urls import URL_ENV
from tests.conftest import SELECTED

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOC_FILES = sorted(DOCS.glob("*.md"))
RUN_LANGUAGES = {"python", "console"}
QUIET_LANGUAGES = {"text", "sh", "sql", "json", "ini"}
SERVER_DOCS = [
    "getting-started.md",
    "concepts.md",
    "api.md",
    "triage.md",
    "flow_control.md",
    "unique_tasks.md",
    "groups.md",
    "schedules.md",
]

_FENCE = re.compile(r"^```([\w-]*)\s*$")
_FILE_MARK = re.compile(r"^<!--\s*file:\s*(\S+)\s*-->$")
_EXIT = re.compile(r"\s#\s*exit\s+(\d+)\s*$")

# Documented behaviour that src/ does not have yet: command text -> why (a strict xfail).
# e.g. "stratix-queue failed retry 2 3  # exit 1": "exit code lost in cli/root.py"
KNOWN_BUGS: dict[str, str] = {}


# -- reading the Markdown ---------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    file: str | None = None  # <!-- file: NAME -->: written there instead of run

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.file is not None or self.lang in RUN_LANGUAGES


def parse(doc: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        fence = _FENCE.match(lines[number])
        if fence is None:
            number += 1
            continue
        start = number
        end = start + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{doc.name}:{start + 1}: unclosed code block")
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        mark = _FILE_MARK.match(previous.strip())
        text = "\n".join(lines[start + 1 : end]) + "\n"
        blocks.append(Block(doc, start + 1, fence.group(1), text, mark.group(1) if mark else None))
        number = end + 1
    return blocks


@dataclass
class Command:
    line: int
    text: str
    argv: list[str]
    exit_code: int
    expected: list[str] = field(default_factory=list)


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        line, number = lines[index], block.line + 1 + index
        index += 1
        if not line.startswith("$ "):
            if found:
                found[-1].expected.append(line)
            elif line.strip():
                raise AssertionError(f"{block.doc.name}:{number}: output before any command")
            continue
        text = line[2:]
        while text.endswith("\\") and index < len(lines):
            text = text[:-1] + lines[index].strip()
            index += 1
        exit_code = _EXIT.search(text)
        words = shlex.split(text, comments=True)
        if not words or words[0] != "stratix-queue":
            raise AssertionError(f"{block.doc.name}:{number}: not a stratix-queue command: {text}")
        found.append(Command(number, text, words[1:], int(exit_code.group(1)) if exit_code else 0))
    return found


# -- running the examples ---------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(text.split())


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(_squash(part)) for part in expected.split("...")))


def check_output(command: Command, printed: str, where: str) -> None:
    """Each expected line is a whole printed line, in order (others may come between)."""
    actual = [_squash(line) for line in printed.splitlines()]
    position = 0
    for expected in (line for line in command.expected if line.strip()):
        pattern = _pattern(expected.strip())
        while position < len(actual) and not pattern.fullmatch(actual[position]):
            position += 1
        if position == len(actual):
            raise AssertionError(
                f"{where}: `{command.text}` did not print {expected.strip()!r} "
                f"(in this order). It printed:\n{printed}"
            )
        position += 1


def run_command(command: Command, where: str) -> str | None:
    """Run one documented command; returns the reason if it fails as a KNOWN_BUGS entry says."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(command.argv)
    printed = out.getvalue() + err.getvalue()
    known = KNOWN_BUGS.get(command.text)
    try:
        if code != command.exit_code:
            raise AssertionError(
                f"{where}: `{command.text}` exited {code}, expected {command.exit_code}. "
                f"It printed:\n{printed}"
            )
        check_output(command, printed, where)
    except AssertionError:
        if known is None:
            raise
        return f"{where}: {known}"
    if known is not None:
        raise AssertionError(f"{where}: fixed, remove it from KNOWN_BUGS: {known}")
    return None


@contextlib.contextmanager
def inside(directory: Path, url: str) -> Iterator[None]:
    """The examples' world: cwd = directory (importable), STRATIX_QUEUE_URL = url."""
    old_cwd, old_url = Path.cwd(), os.environ.get(URL_ENV)
    logger = logging.getLogger("stratix_queue")
    old_level = logger.level  # an example may turn the logs up
    os.chdir(directory)
    os.environ[URL_ENV] = url
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        logger.setLevel(old_level)
        os.chdir(old_cwd)
        if old_url is None:
            os.environ.pop(URL_ENV, None)
        else:
            os.environ[URL_ENV] = old_url


class DocRun:
    """The examples of one Markdown file, run in order against one database."""

    def __init__(self, doc: Path, directory: Path, url: str, console: bool = True) -> None:
        self.doc = doc
        self.directory = directory
        self.url = url
        self.blocks = [
            block
            for block in parse(doc)
            if block.runs and (console or block.lang != "console" or block.file is not None)
        ]
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}
        self.done = 0
        self.failed: Block | None = None
        self.modules: set[str] = set()

    def run_through(self, block: Block) -> None:
        """Run every block up to and including ``block`` that has not run yet."""
        target = self.blocks.index(block)
        known: list[str] = []
        with inside(self.directory, self.url):
            while self.done <= target:
                if self.failed is not None:
                    pytest.skip(f"an earlier example failed: {self.failed.id}")
                current = self.blocks[self.done]
                self.done += 1
                try:
                    known += self._run(current)
                except BaseException:
                    self.failed = current
                    raise
        if known:
            pytest.xfail("; ".join(known))

    def run_all(self) -> None:
        if self.blocks:
            self.run_through(self.blocks[-1])

    def _run(self, block: Block) -> list[str]:
        if block.file is not None:
            self._write(block)
        elif block.lang == "python":
            code = compile("\n" * block.line + block.text, str(block.doc), "exec")
            exec(code, self.namespace)
        else:
            where = block.doc.name
            found = [run_command(command, f"{where}:{command.line}") for command in commands(block)]
            return [reason for reason in found if reason]
        return []

    def _write(self, block: Block) -> None:
        assert block.file is not None
        target = self.directory / block.file
        target.write_text(block.text, encoding="utf-8")
        if target.suffix == ".py":
            compile(block.text, str(block.doc), "exec")  # a syntax error shows here
            self.modules.add(target.stem)
            sys.modules.pop(target.stem, None)  # another file's module of the same name
            importlib.invalidate_caches()

    def close(self) -> None:
        """Close the QueueServices the examples left open; forget their modules."""
        holders: list[Any] = [self.namespace]
        for name in self.modules:
            module = sys.modules.pop(name, None)
            if module is not None:
                holders.append(vars(module))
        for values in holders:
            for value in list(values.values()):
                if isinstance(value, QueueService):
                    value.close()


@pytest.fixture(scope="session")
def doc_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], DocRun]]:
    runs: dict[Path, DocRun] = {}

    def get(doc: Path) -> DocRun:
        if doc not in runs:
            directory = tmp_path_factory.mktemp(doc.stem)
            runs[doc] = DocRun(doc, directory, f"sqlite:///{directory / 'stratix-queue.db'}")
        return runs[doc]

    yield get
    for run in runs.values():
        run.close()


EXAMPLES = [block for doc in DOC_FILES for block in parse(doc) if block.runs]


@pytest.mark.parametrize("block", EXAMPLES, ids=[block.id for block in EXAMPLES])
def test_example(block: Block, doc_run: Callable[[Path], DocRun]) -> None:
    doc_run(block.doc).run_through(block)


@pytest.mark.parametrize("backend", [name for name in SELECTED if name != "sqlite"])
@pytest.mark.parametrize("doc", SERVER_DOCS)
def test_examples_on_a_server(doc: str, backend: str, fresh_url: str, tmp_path: Path) -> None:
    """The same Python examples, unchanged, against PostgreSQL and MariaDB."""
    run = DocRun(DOCS / doc, tmp_path, fresh_url, console=False)
    try:
        run.run_all()
    finally:
        run.close()


# -- the docs stay complete and well-formed ---------------------------------------------------


def test_docs_exist() -> None:
    names = {doc.name for doc in DOC_FILES}
    assert {"index.md", "getting-started.md", "concepts.md", "api.md", "cli.md"} <= names
    assert "operations.md" in names
    assert set(SERVER_DOCS) <= names


@pytest.mark.parametrize("doc", DOC_FILES, ids=[doc.name for doc in DOC_FILES])
def test_blocks_are_well_formed(doc: Path) -> None:
    for block in parse(doc):
        assert block.lang in RUN_LANGUAGES | QUIET_LANGUAGES, (
            f"{block.id}: give the block a language ({sorted(RUN_LANGUAGES | QUIET_LANGUAGES)})"
        )
        if block.lang == "console" and block.file is None:
            assert commands(block), f"{block.id}: a console block without a command"
        if block.lang == "sh":
            assert "$ " not in block.text, f"{block.id}: `$ ` prompts belong in console blocks"


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens."""
    anchors = set()
    in_code = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            title = line.lstrip("#").strip().lower().replace("`", "")
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("doc", DOC_FILES, ids=[doc.name for doc in DOC_FILES])
def test_links_resolve(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        assert linked.exists(), f"{doc.name}: broken link {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{doc.name}: no heading for {target}"


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for doc in DOC_FILES:
        if doc.name != "index.md":
            assert f"]({doc.name})" in index, f"index.md does not link {doc.name}"


def _command_paths(group: click.Command, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    yield prefix, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _command_paths(command, f"{prefix} {name}".strip())


def test_cli_reference_covers_every_command_and_option() -> None:
    reference = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path, command in _command_paths(cli):
        if path:
            assert f"stratix-queue {path}" in reference, f"cli.md lacks `stratix-queue {path}`"
        for param in command.params:
            for option in param.opts:
                if option.startswith("--") and option != "--help":
                    assert option in reference, f"cli.md lacks {option} of `{path or 'root'}`"


def test_api_reference_covers_every_public_method_and_field() -> None:
    import dataclasses

    from stratix_queue import job, worker

    reference = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in dir(QueueService):
        if not name.startswith("_"):
            assert re.search(rf"[`.]{name}\b", reference), f"api.md lacks QueueService.{name}"
    types: list[Any] = [
        job.Job,
        job.ErrorInfo,
        job.AttemptError,
        job.RetryResult,
        job.FailedTasksStats,
        job.GroupInfo,
        job.QueueStats,
        job.WorkerInfo,
        job.Unreadable,
        worker.WorkerStats,
    ]
    for kind in types:
        assert f"`{kind.__name__}`" in reference, f"api.md lacks {kind.__name__}"
        for item in dataclasses.fields(kind):
            if not item.name.startswith("_"):
                assert f"`{item.name}`" in reference, f"api.md lacks {kind.__name__}.{item.name}"
    import stratix_queue.errors as errors

    for name, value in vars(errors).items():
        if isinstance(value, type) and issubclass(value, Exception):
            assert f"`{name}`" in reference, f"api.md lacks the exception {name}"


def test_shell_completion_as_documented() -> None:
    reference = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert "_STRATIX_QUEUE_COMPLETE=bash_source stratix-queue" in reference
    env = {**os.environ, "_STRATIX_QUEUE_COMPLETE": "bash_source"}
    done = subprocess.run(
        [sys.executable, "-m", "stratix_queue"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "complete -o nosort -F _stratix_queue_completion stratix-queue" in done.stdout
