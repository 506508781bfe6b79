"""The named SQL blocks and the migrations of the three backends stay in step."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from stratix_queue import MigrationError
from stratix_queue.backends import migrations_dir, package_dir
from stratix_queue.failure_filter import FILTER_FIELDS, FailureFilter
from stratix_queue.job import CLAIMED_COLUMNS
from stratix_queue.migrations import adoption
from stratix_queue.migrations.runner import load_migrations, load_schema
from stratix_queue.sqlfile import load_queries, parse_blocks, split_statements

DIALECTS = ("sqlite", "postgres", "mysql")
CHAINED = {"picked", "claimed_at", "leased_until", "moved"}
SHARED_CORE = sorted(Path(package_dir("sqlite")).parent.glob("*.py"))


@pytest.fixture(scope="module")
def queries() -> dict[str, dict[str, str]]:
    return {dialect: load_queries(package_dir(dialect)) for dialect in DIALECTS}


def _named_in(path: Path) -> set[str]:
    return set(re.findall(r'"(\w+)"', path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_query_is_used_by_its_driver(
    queries: dict[str, dict[str, str]], dialect: str
) -> None:
    """No query is kept only so that names match: each is named by the shared core (the
    modules of backends/, a filter's conditions by their fields) or by its database's driver."""
    named = set().union(*map(_named_in, SHARED_CORE))
    named |= _named_in(Path(package_dir(dialect)) / "driver.py")
    named |= {f"filter_{field}" for field in FILTER_FIELDS}
    assert set(queries[dialect]) <= named, sorted(set(queries[dialect]) - named)


def test_the_shared_core_finds_its_queries(queries: dict[str, dict[str, str]]) -> None:
    names = {dialect: set(blocks) for dialect, blocks in queries.items()}
    for needed in (
        "insert_jobs",
        "insert_job_row",
        "get_job",
        "list_failed",
        "mark_as_failed",
        "record_attempt_error",
        "retry_failed",
        "give_back",
        "count_by_status",
        "table_exists",
    ):
        assert all(needed in found for found in names.values()), needed


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_block_has_sql(queries: dict[str, dict[str, str]], dialect: str) -> None:
    assert len(queries[dialect]) >= 10
    for name, sql in queries[dialect].items():
        assert sql.strip(), f"{dialect}.{name} is empty"
        assert not sql.rstrip().endswith(";"), f"{dialect}.{name} keeps its final ';'"
        assert "-- name:" not in sql, f"{dialect}.{name} swallowed the next block"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_insert_markers_match_across_backends(
    queries: dict[str, dict[str, str]], dialect: str
) -> None:
    """``{rows}``/``__N__`` are expanded by the shared insert code: used alike everywhere.

    (``{ids}`` may differ: a backend without RETURNING chains statements through it.)
    """
    for name, sql in queries[dialect].items():
        reference = queries["sqlite"].get(name, sql)
        for marker in ("{rows}", "__N__"):
            assert (marker in sql) == (marker in reference), f"{dialect}.{name} {marker}"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_placeholders_name_the_same_parameters(
    queries: dict[str, dict[str, str]], dialect: str
) -> None:
    def params(sql: str) -> set[str]:
        return set(re.findall(r"%\((\w+)\)s", sql)) | set(re.findall(r"(?<![:\w]):(\w+)", sql))

    def lists(dialect: str, name: str) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", queries[dialect][name]))

    def given(dialect: str, name: str) -> set[str]:
        sql = queries[dialect][name]
        if dialect != "sqlite":
            return params(sql)
        return params(sql) - CHAINED  # SQLite's hot path: columns of an earlier statement's row

    for name in set(queries[dialect]) & set(queries["sqlite"]):
        if params(queries["sqlite"][name]) & CHAINED:
            continue  # a step of SQLite's chained claim or batch: its parameters differ
        # A list may be one array parameter on PostgreSQL and a {marker} elsewhere.
        differ = given(dialect, name) ^ given("sqlite", name)
        assert differ <= lists(dialect, name) | lists("sqlite", name), f"{dialect}.{name}"


def test_parse_blocks_splits_and_strips() -> None:
    text = (
        "-- a header, ignored\n"
        "SELECT 'header';\n"
        "-- name: first\n"
        "SELECT 1;\n"
        "\n"
        "--   name:   second  \n"
        "-- a comment inside a block is dropped\n"
        "UPDATE t SET a = 1;\n"
        "DELETE FROM t;\n"
    )
    assert parse_blocks(text) == {
        "first": "SELECT 1",
        "second": "UPDATE t SET a = 1;\nDELETE FROM t",
    }


def test_parse_blocks_rejects_a_duplicate_name() -> None:
    text = "-- name: same\nSELECT 1;\n-- name: other\nSELECT 2;\n-- name: same\nSELECT 3;\n"
    with pytest.raises(ValueError, match="same"):
        parse_blocks(text)


def test_split_statements() -> None:
    script = (
        "-- leading comment\n"
        "CREATE TABLE t (\n    a INT\n);\n"
        "INSERT INTO t VALUES (1);\n"
        "-- trailing comment\n"
    )
    assert split_statements(script) == [
        "CREATE TABLE t (\n    a INT\n)",
        "INSERT INTO t VALUES (1)",
    ]
    assert split_statements("SELECT 1") == ["SELECT 1"]
    assert split_statements("-- only a comment\n") == []


def test_migrations_match_across_backends() -> None:
    found = {dialect: load_migrations(migrations_dir(dialect)) for dialect in DIALECTS}
    shapes = {
        dialect: [(m.version, m.name) for m in migrations] for dialect, migrations in found.items()
    }
    assert shapes["sqlite"] == shapes["postgres"] == shapes["mysql"]
    versions = [version for version, _ in shapes["sqlite"]]
    assert versions == list(range(1, len(versions) + 1))
    assert "add_failed_status" in [name for _, name in shapes["sqlite"]]
    for dialect, migrations in found.items():
        for migration in migrations:
            for direction in ("up", "down"):
                sql = getattr(migration, direction)
                assert split_statements(sql), f"{dialect} {migration.version} {direction} is empty"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_add_failed_status_allows_failed(dialect: str) -> None:
    [migration] = [
        m for m in load_migrations(migrations_dir(dialect)) if m.name == "add_failed_status"
    ]
    assert "chk_queue_jobs_status" in migration.up
    assert "'failed'" in migration.up
    for column in ("error_message", "error_stack", "error_code", "failed_at"):
        assert column in migration.up, column


def _top_level_items(text: str) -> list[str]:
    """The comma-separated items of ``text`` outside any parentheses."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [*items, current.strip()]


def _column_name(item: str) -> str:
    """A returned column's name: its alias, else the column it reads (``j.x`` -> ``x``)."""
    alias = re.search(r"\bAS\s+(\w+)$", item)
    return alias.group(1) if alias else item.removeprefix("j.")


@pytest.mark.parametrize(
    ("dialect", "block"),
    [
        ("postgres", "claim_jobs"),
        ("postgres", "claim_jobs_in_groups"),
        ("mysql", "claim_read"),
    ],
)
def test_server_claims_return_the_claimed_columns_in_order(
    queries: dict[str, dict[str, str]], dialect: str, block: str
) -> None:
    """job.claimed_jobs reads a claim's rows by position: each claim names CLAIMED_COLUMNS."""
    found = re.search(
        r"(?:RETURNING|SELECT)\s+(j\.id,.*?)(?:\s+FROM\b|$)", queries[dialect][block], re.S
    )
    assert found, f"{dialect}.{block} returns no j.id, ... list"
    names = [_column_name(item) for item in _top_level_items(found.group(1))]
    assert names == list(CLAIMED_COLUMNS), f"{dialect}.{block}"


def test_sqlite_claim_reads_back_the_claimed_columns_in_order(
    queries: dict[str, dict[str, str]],
) -> None:
    found = re.search(
        r"json_array\((.*)\)\s*\)\s*AS claimed", queries["sqlite"]["claim_read"], re.S
    )
    assert found
    items = _top_level_items(found.group(1))
    computed = {  # the items that are expressions: what each must read
        "payload_value": "json(p)",
        "payload": "NULL, p)",
        "timeout_seconds": "timeout_seconds",
    }
    assert len(items) == len(CLAIMED_COLUMNS)
    for item, name in zip(items, CLAIMED_COLUMNS, strict=True):
        assert item == name or computed.get(name, "\0") in item, (item, name)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_backend_ships_a_schema_file_and_adopts_002(dialect: str) -> None:
    schema = load_schema(migrations_dir(dialect))
    assert schema is not None
    assert "CREATE TABLE queue_jobs" in schema
    assert "metadata" not in schema
    [migration] = [
        m for m in load_migrations(migrations_dir(dialect)) if m.name == "add_failed_status"
    ]
    assert {"error_columns", "success_without_metadata"} <= set(adoption.probes(migration.adopt))


def test_parts_of_an_up_script() -> None:
    up = (
        "CREATE TABLE a (x INT);\n-- part: one\nALTER TABLE a ADD y INT;\n"
        "-- part: two\nDROP TABLE b;"
    )
    parts = adoption.split_parts(up)
    assert [(p.name, p.sql.splitlines()[-1]) for p in parts] == [
        (None, "CREATE TABLE a (x INT);"),
        ("one", "ALTER TABLE a ADD y INT;"),
        ("two", "DROP TABLE b;"),
    ]
    assert "\n".join(p.sql for p in parts) == up
    blocks = {
        "present_one": "SELECT 1",
        "adopt_one": "ALTER TABLE a MODIFY y INT",
        "present_two": "SELECT 1",
    }
    adoption.check_blocks("test", up, blocks)
    assert adoption.adopted_script(up, blocks, ["one", "two"]).splitlines() == [
        "CREATE TABLE a (x INT);",
        "-- part: one: found in place, made exactly ours",
        "ALTER TABLE a MODIFY y INT;",
        "-- part: two: found in place, nothing to do",
    ]
    assert adoption.adopted_script(up, blocks, []) == up


@pytest.mark.parametrize(
    ("blocks", "complaint"),
    [
        ({"present_three": "SELECT 1"}, "names no '-- part: three'"),
        ({"adopt_one": "SELECT 1"}, "has no present_one"),
        ({"found_one": "SELECT 1"}, "neither present_"),
    ],
)
def test_a_wrong_adopt_block_is_refused(blocks: dict[str, str], complaint: str) -> None:
    with pytest.raises(MigrationError, match=complaint):
        adoption.check_blocks("test", "-- part: one\nSELECT 1;", blocks)


def test_a_filter_condition_per_field_of_the_filter() -> None:
    assert set(FILTER_FIELDS) == {f.name for f in fields(FailureFilter)}
