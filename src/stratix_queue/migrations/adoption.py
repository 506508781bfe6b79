"""Adoption: finish a migration whose schema someone already applied by hand, in whole or part.

An up script may mark parts with a line ``-- part: NAME`` (a part runs to the next mark). The
migration's ``NNN_name.adopt.sql`` holds named blocks for some of them:

- ``present_NAME``: a query whose one row says (true or false) whether that part's schema is in
  the database already;
- ``adopt_NAME`` (optional): what runs instead of a part found present, to bring what a hand
  run made to exactly what the part makes (a column's type, say). Without it the part is
  skipped.

A part without a ``present_`` block always runs (moving data, say). A migration with a part
found present is recorded as ``adopted``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from stratix_queue.errors import MigrationError

PART_MARK = re.compile(r"^--\s*part:\s*(\w+)\s*$")
PRESENT = "present_"
ADOPT = "adopt_"


@dataclass(frozen=True, slots=True)
class Part:
    name: str | None  # None: the lines before the first mark
    sql: str  # its lines, the mark included


def split_parts(script: str) -> list[Part]:
    """The parts of an up script, in order; joined with newlines they are the script again."""
    parts: list[Part] = []
    name: str | None = None
    lines: list[str] = []
    for line in script.splitlines():
        mark = PART_MARK.match(line.strip())
        if mark is not None:
            if lines:
                parts.append(Part(name, "\n".join(lines)))
            name, lines = mark.group(1), []
        lines.append(line)
    if lines:
        parts.append(Part(name, "\n".join(lines)))
    return parts


def probes(blocks: Mapping[str, str]) -> dict[str, str]:
    """Part name -> the query that tells whether the part is in place already."""
    return {
        name.removeprefix(PRESENT): sql for name, sql in blocks.items() if name.startswith(PRESENT)
    }


def check_blocks(label: str, up: str, blocks: Mapping[str, str]) -> None:
    """Every block of an adopt file names a marked part of the up script, in a known way."""
    marked = {part.name for part in split_parts(up) if part.name}
    found = probes(blocks)
    for block in blocks:
        if block.startswith(PRESENT):
            part = block.removeprefix(PRESENT)
        elif block.startswith(ADOPT):
            part = block.removeprefix(ADOPT)
            if part not in found:
                raise MigrationError(f"{label}: {block} has no {PRESENT}{part} to say when it runs")
        else:
            raise MigrationError(f"{label}: block {block} is neither {PRESENT}... nor {ADOPT}...")
        if part not in marked:
            raise MigrationError(f"{label}: {block} names no '-- part: {part}' of the up script")


def adopted_script(up: str, blocks: Mapping[str, str], found: Collection[str]) -> str:
    """The up script with each part in ``found`` replaced by its adopt_ block, or dropped."""
    chunks = []
    for part in split_parts(up):
        if part.name is None or part.name not in found:
            chunks.append(part.sql)
            continue
        instead = blocks.get(ADOPT + part.name)
        if instead is None:
            chunks.append(f"-- part: {part.name}: found in place, nothing to do")
        else:
            chunks.append(f"-- part: {part.name}: found in place, made exactly ours\n{instead};")
    return "\n".join(chunks)
