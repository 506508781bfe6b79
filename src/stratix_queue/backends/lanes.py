"""Lanes of the claim index: one per executor a worker has.

The claim index is keyed (gate, executor, priority, run_at, id) over waiting tasks, so a claim
reads one range per executor, each from its head in claim order, and merges them: a worker
never reads a task it could not run. A lane's statement is written once in a package's .sql
file for executor ``lane0``; here it is repeated per executor, ``lane0`` renamed to ``lane1``,
``lane2``... (its parameter, and on MariaDB its session variables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stratix_queue.backends.sql_core import SqlFragment

TEMPLATE_LANE = "lane0"


def lane_sql(template: str, lane: int) -> str:
    """The template's statement for lane number ``lane``."""
    return template.replace(TEMPLATE_LANE, f"lane{lane}")


def lane_values(executors: Sequence[str]) -> dict[str, Any]:
    """Each lane's executor, by its parameter name."""
    return {f"lane{i}": executor for i, executor in enumerate(executors)}


def lanes(template: str, executors: Sequence[str], joiner: str = " UNION ALL ") -> SqlFragment:
    """The template once per executor, joined (for a ``{lanes}`` marker)."""
    sql = joiner.join(lane_sql(template, i) for i in range(len(executors)))
    return SqlFragment(sql, lane_values(executors))
