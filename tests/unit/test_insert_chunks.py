"""How a batch of tasks is cut into insert statements (one transaction for all of them)."""

from __future__ import annotations

from stratix_queue.backends.arguments import NewJob
from stratix_queue.backends.insert_path import (
    ALONE_PAYLOAD_CHARS,
    INSERT_CHUNK_BYTES,
    INSERT_CHUNK_ROWS,
    insert_chunks,
)


def _job(payload_chars: int) -> NewJob:
    return NewJob("n", "e", None, "x" * payload_chars, 0, 1, 0.0, None)


def _sizes(jobs: list[NewJob]) -> list[int]:
    chunks = list(insert_chunks(jobs))
    assert [job for chunk in chunks for job in chunk] == jobs  # every task once, in order
    return [len(chunk) for chunk in chunks]


def test_rows_per_statement_are_capped() -> None:
    assert _sizes([_job(10)]) == [1]
    assert _sizes([_job(10)] * INSERT_CHUNK_ROWS) == [INSERT_CHUNK_ROWS]
    assert _sizes([_job(10)] * (2 * INSERT_CHUNK_ROWS + 1)) == [INSERT_CHUNK_ROWS] * 2 + [1]


def test_payload_bytes_per_statement_are_capped() -> None:
    each = ALONE_PAYLOAD_CHARS - 1
    sizes = _sizes([_job(each)] * 600)
    assert all(size * each <= INSERT_CHUNK_BYTES + each for size in sizes), sizes
    assert sum(sizes) == 600 and len(sizes) > 1


def test_a_large_payload_is_a_statement_of_its_own() -> None:
    small, large = _job(10), _job(ALONE_PAYLOAD_CHARS + 1)
    assert _sizes([small] * 3 + [large] + [small] * 2 + [large] * 2) == [3, 1, 2, 1, 1]
    assert _sizes([large] * 3) == [1, 1, 1]
    assert _sizes([large]) == [1]
