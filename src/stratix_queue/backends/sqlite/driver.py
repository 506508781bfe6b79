"""SQLite backend (stdlib ``sqlite3``): WAL, a busy timeout, and BEGIN IMMEDIATE for writes.

The worker's hot path (claim, batched success) reads its answer in one row per statement:
sqlite3 releases Python's GIL around each row it steps through, and every release while the
worker's other threads run tasks is a hand-off (a claim of 250 rows answered row by row spent
more time trading the GIL than in SQLite). See ``_claimed_rows``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.backends.driver import Capabilities, WakeUp
from stratix_queue.backends.lanes import lanes
from stratix_queue.backends.limits import Limits
from stratix_queue.backends.session import (
    Params,
    Result,
    Row,
    Session,
    UniqueKeyConflictError,
    bound,
)
from stratix_queue.backends.sql_driver import (
    SqlDriver,
    claim_values,
    latest_successes,
    success_items,
)
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.job import Job
from stratix_queue.rollups import rollup_sums

BUSY_TIMEOUT_MS = 30_000
WAL_RETRY_PAUSE_S = 0.005
# The page size of a database file this driver creates: WAL appends every page a commit touches
# whole, and a queue commits small rows one at a time, so smaller pages than SQLite's default
# pay (bench/README.md has the measurements). Only a new, empty file gets it.
NEW_FILE_PAGE_SIZE = 2048


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch a file database to WAL. The switch takes an exclusive lock and SQLite answers
    "database is locked" at once, without waiting out the busy timeout, when another connection
    is opening the same new file at that moment (three migrators racing on a fresh file hit it
    about one time in fifteen); so it is retried until the busy timeout has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY_PAUSE_S)


class SqliteSession(Session):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def run(self, sql: str, params: Params | None = None) -> Result:
        cursor = self.conn.execute(sql, bound(params))
        description = cursor.description
        if description is None:
            return Result(rowcount=cursor.rowcount)
        names = [column[0] for column in description]
        rows = [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]  # same length
        return Result(rows, len(rows), True)

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.conn.execute(sql, bound(params)).fetchall()
        return rows

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()


_FILE = Capabilities(
    wake_up=WakeUp.CHANGE_MARKER,
    change_watch_seconds=0.005,  # PRAGMA data_version: in-process, no table read
    server=False,  # a file: an open connection stays usable, and has no server to limit
    insert_returning=True,
    update_returning=True,
    one_trip_transactions=False,
)
# Each connection to :memory: is a database of its own: only this process sees it.
_MEMORY = dataclasses.replace(_FILE, wake_up=WakeUp.IN_PROCESS, change_watch_seconds=None)


class SqliteDriver(SqlDriver):
    dialect: ClassVar[str] = "sqlite"
    package_dir: ClassVar[str] = os.path.dirname(os.path.abspath(__file__))

    CAPABILITIES: ClassVar[Capabilities] = _FILE

    def _capabilities(self) -> Capabilities:
        return _MEMORY if self._memory else _FILE

    @property
    def _memory(self) -> bool:
        return self.url.path == ":memory:"

    def _pool_size(self) -> int | None:
        # Each connection to ":memory:" is a database of its own: share exactly one.
        return 1 if self._memory else None

    def database_exists(self) -> bool:
        return self._memory or os.path.exists(self.url.path)

    def _open_session(self, _limits: Limits, create: bool) -> Session:
        if not create and not self.database_exists():
            # A mistyped path must not leave an empty database file behind.
            raise SchemaNotReadyError(
                f"the SQLite database {self.url.path!r} is not migrated (the file does not "
                "exist yet); run `stratix-queue migrate` or queue.migrate()"
            )
        try:
            conn = sqlite3.connect(
                self.url.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot open SQLite database {self.url.path!r}: {exc}"
            ) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not self._memory:
                conn.execute(f"PRAGMA page_size = {NEW_FILE_PAGE_SIZE}")  # no-op unless new
                _enable_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return SqliteSession(conn)

    def placeholder(self, name: str) -> str:
        return f":{name}"

    # -- the worker's hot path: one row per statement ------------------------------------------

    def _claimed_rows(self, params: ClaimParams) -> list[tuple[Any, ...]]:
        """The claim in four statements, each answering one row: the ids picked (a JSON
        array), the claim's time and lease end, the update, and the claimed rows (a JSON array
        of arrays, read in parts past SQLite's string limit). Parsed once the transaction has
        ended: the file's write lock is not held for Python work."""
        values = claim_values(params)
        if params.groups is None:
            pick = "claim_pick"
            values["lanes"] = lanes(self.queries["claim_lane"], params.executors or ())
        else:
            pick = "claim_pick_in_groups"
        bound = self._bind(pick, values)
        if bound is None or not params.executors:
            return []  # no group to claim from, or nothing it could run
        sql, values = bound

        def body(session: Session) -> list[str]:
            values.update(_one_row(session.run(sql, values)))
            values.update(_one_row(self._run(session, "claim_times", values)))
            self._run(session, "claim_mark", values)
            return _read_claimed(session, self.queries["claim_read"], values)

        parts = self._retry_transient(lambda: self._in_transaction(body))
        return [row for part in parts for row in json.loads(part)]

    def _gate_rows(
        self, session: Session, params: ClaimParams, gate: str, limit: int
    ) -> list[tuple[Any, ...]]:
        """A gate's claim (flow_ops.py) as the open one: its pick, then claim_times, claim_mark
        and claim_read, in the claim's transaction."""
        values = {**claim_values(params), "gate": gate, "limit": limit}
        bound = self._bind("gate_pick", {**values, **self._gate_lanes(params, "gate_lane")})
        assert bound is not None, "no list parameter is empty here"
        sql, values = bound
        values.update(_one_row(session.run(sql, values)))
        values.update(_one_row(self._run(session, "claim_times", values)))
        self._run(session, "claim_mark", values)
        parts = _read_claimed(session, self.queries["claim_read"], values)
        return [tuple(row) for part in parts for row in json.loads(part)]

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        """The batch in four statements: the ids still held under their tokens (one row, a
        JSON array), their copy to queue_success, their rollups, and their delete. The rollups
        are summed here before the transaction, for the whole batch; again inside it, for the
        rows that moved, only when some did not (a lease lost meanwhile)."""
        batch = latest_successes(done)
        values: dict[str, Any] = {"items": success_items(batch, buckets=False)}
        whole = rollup_sums((job.executor, job.group, ms) for job, ms in batch)

        def body(session: Session) -> str:
            values.update(_one_row(self._run(session, "success_pick", values)))
            self._run(session, "success_copy", values)
            sums = whole
            if values["moved_count"] != len(batch):
                moved = set(json.loads(values["moved"]))
                sums = rollup_sums(
                    (job.executor, job.group, ms) for job, ms in batch if job.id in moved
                )
            self._rollup_successes(session, sums)
            self._run(session, "success_delete", values)
            return str(values["moved"])

        return set(json.loads(self._in_transaction(body)))

    def _rollup_successes(self, session: Session, sums: list[list[Any]]) -> None:
        """One key (the usual batch: one executor and group, one run-time bucket) as plain
        parameters; more as one JSON parameter (a JSON parse costs ~20 us a batch)."""
        if len(sums) == 1:
            [executor, group, bucket, count, total, longest] = sums[0]
            params = {"executor": executor, "group": group, "bucket": bucket, "count": count}
            self._run(session, "success_rollup_row", {**params, "total": total, "max": longest})
        elif sums:
            self._run(session, "success_rollup_rows", {"rollups": json.dumps(sums)})

    def _param(self, value: Any) -> Any:
        if isinstance(value, datetime):  # the stored text form, not sqlite3's deprecated adapter
            return value.isoformat(sep=" ", timespec="milliseconds")
        return value

    def translate_error(self, exc: Exception) -> StratixQueueError | None:
        if not isinstance(exc, sqlite3.Error):
            return None
        text = str(exc)
        if "locked" in text or "busy" in text:
            return TransientDatabaseError(f"SQLite database {self.url.path!r} is busy: {text}")
        if "UNIQUE constraint failed" in text:
            return UniqueKeyConflictError(f"SQLite error: {text}")
        if "no such table" in text or "no such column" in text:
            return SchemaNotReadyError(
                f"the SQLite database {self.url.path!r} is not migrated ({text}); "
                "run `stratix-queue migrate` or queue.migrate()"
            )
        if "unable to open" in text or "disk I/O" in text:
            return DatabaseUnavailableError(f"cannot use SQLite database {self.url.path!r}: {text}")
        return DatabaseError(f"SQLite error: {text}")


def _read_claimed(session: Session, sql: str, values: dict[str, Any]) -> list[str]:
    """The claimed rows (``values["picked"]``), read back as one JSON array (text); in parts
    while that value would exceed SQLite's string limit (a claim of many large payloads)."""
    try:
        answer = _one_row(session.run(sql, values))
    except sqlite3.DataError:  # string or blob too big
        ids = json.loads(values["picked"])
        if len(ids) < 2:
            raise
        half = len(ids) // 2
        return [
            *_read_claimed(session, sql, {**values, "picked": json.dumps(ids[:half])}),
            *_read_claimed(session, sql, {**values, "picked": json.dumps(ids[half:])}),
        ]
    return [answer["claimed"]]


def _one_row(result: Result) -> Row:
    if len(result.rows) != 1:
        raise DatabaseError(f"a chained statement answered {len(result.rows)} rows, not one")
    return result.rows[0]
