"""MariaDB 10.6+ (PyMySQL): SKIP LOCKED claims, and the worker's hot path in one round trip per
claim and per batch of successes. MySQL 8 is refused at connect: it has no INSERT/DELETE ...
RETURNING, which the insert path and the batched success read their answers from."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import Any, ClassVar

from stratix_queue.backends.arguments import ClaimParams, NewJob
from stratix_queue.backends.driver import Capabilities, WakeUp
from stratix_queue.backends.lanes import lane_sql, lane_values, lanes
from stratix_queue.backends.limits import Limits
from stratix_queue.backends.session import Params, Result, Session, UniqueKeyConflictError
from stratix_queue.backends.sql_driver import (
    ID_CHUNK,
    SqlDriver,
    claim_values,
    latest_successes,
    success_items,
)
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    DriverNotInstalledError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
    UnsupportedURLError,
)
from stratix_queue.job import Job
from stratix_queue.rollups import rollup_rows
from stratix_queue.urls import scrub

try:
    import pymysql
    import pymysql.cursors
    from pymysql.constants import CLIENT
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise DriverNotInstalledError(
        "MySQL/MariaDB needs PyMySQL: pip install 'stratix-queue[mysql]'"
    ) from exc

CONNECT_TIMEOUT_S = 10
DEADLOCK, LOCK_WAIT_TIMEOUT = 1213, 1205
STATEMENT_TIMEOUT = 1969  # the session's max_statement_time: an overloaded server
READ_ONLY = 1290  # --read-only: a replica, or a failover under way
NO_SUCH_TABLE, BAD_FIELD = 1146, 1054
DUPLICATE_ENTRY = 1062  # a unique index (idx_queue_jobs_unique) refused a row
# Connection-level failures: can't connect, server gone away, lost during query, etc.
CONNECTION_ERRORS = {2002, 2003, 2005, 2006, 2013, 2014, 2055, 1053, 1927, 4031}
# group_concat_max_len also bounds JSON_ARRAYAGG, which carries a claim's ids (claim_jobs).
SESSION_SETUP = "SET time_zone = '+00:00', group_concat_max_len = 1073741824"
ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
# The claim's statements (queries.sql, claim_read_head): the ids travel between them in session
# variables, so they need nothing back from one another and go in one round trip. The head is
# read once per lane (lanes.py) before CLAIM's.
CLAIM = ("claim_mark", "claim_read")  # after each lane's head and claim_lock
SUCCESS_BATCH = (
    "success_copy",
    "success_copied",
    "success_rollup_summed",
    "success_rollup",
    "success_delete",
)
CLAIM_IN_GROUPS = (
    "claim_read_head_in_groups",
    "claim_lock_in_groups",
    "claim_mark",
    "claim_read",
)


class _StaleSessionError(Exception):
    """A pooled connection that no longer answers: the pool closes it (its rollback fails)."""


class MysqlSession(Session):
    def __init__(self, conn: pymysql.connections.Connection[Any]) -> None:
        self.conn = conn
        self.answered_at = time.monotonic()

    def run(self, sql: str, params: Params | None = None) -> Result:
        self.busy_since = time.monotonic()
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(sql, dict(params) if params else None)
                result = _result(cursor)
        finally:
            self.busy_since = 0.0
        self.answered_at = time.monotonic()
        return result

    def stale(self) -> bool:
        """Whether this connection, not ``fresh()``, no longer answers a ping (one round trip).
        A one-trip block is sent only on a connection that passed: nothing else would tell a
        dead connection from a packet lost half-way (a claim then waits for release_claim)."""
        if self.fresh():
            return False
        self.busy_since = time.monotonic()
        try:
            self.conn.ping(reconnect=False)
        except pymysql.Error:
            with suppress(Exception):
                self.conn.close()
            return True
        finally:
            self.busy_since = 0.0
        self.answered_at = time.monotonic()
        return False

    def run_together(self, statements: Sequence[str], params: Params | None = None) -> list[Result]:
        """Run ``statements`` in one round trip, one Result each: the connection has
        CLIENT.MULTI_STATEMENTS, so they go to the server as one text (each value is still
        escaped by the driver). Several statements run as one transaction: BEGIN and COMMIT
        travel with them. The server stops at the first statement that fails; its error is
        raised once the results before it are read, after a ROLLBACK of what ran before it
        (a deadlock victim is rolled back already; a lock wait timeout or any other error
        leaves the transaction open), so it is all or nothing."""
        together = len(statements) > 1
        sql = ";\n".join(["BEGIN", *statements, "COMMIT"] if together else statements)
        results: list[Result] = []
        self.busy_since = time.monotonic()
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(sql, dict(params) if params else None)
                results.append(_result(cursor))
                while cursor.nextset():  # reads the next statement's result, or raises its error
                    results.append(_result(cursor))
        except BaseException:
            if together:
                with suppress(Exception):  # a lost connection: the server rolls back itself
                    self.conn.rollback()
            raise
        finally:
            self.busy_since = 0.0
        self.answered_at = time.monotonic()
        return results[1:-1] if together else results

    def begin(self) -> None:
        self._plain(self.conn.begin)

    def commit(self) -> None:
        self._plain(self.conn.commit)

    def rollback(self) -> None:
        self._plain(self.conn.rollback)

    def _plain(self, call: Callable[[], None]) -> None:
        self.busy_since = time.monotonic()
        try:
            call()
        finally:
            self.busy_since = 0.0
        self.answered_at = time.monotonic()

    def close(self) -> None:
        self.conn.close()

    def abandon(self) -> None:
        sock: socket.socket | None = getattr(self.conn, "_sock", None)  # None once closed
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)


def _result(cursor: pymysql.cursors.DictCursor) -> Result:
    if cursor.description is None:
        return Result(rowcount=cursor.rowcount)
    rows = list(cursor.fetchall())
    return Result(rows=rows, rowcount=len(rows), returned_rows=True)


class MariadbDriver(SqlDriver):
    dialect: ClassVar[str] = "mysql"  # the URL's name for the protocol (mysql:// or mariadb://)
    package_dir: ClassVar[str] = os.path.dirname(os.path.abspath(__file__))
    CAPABILITIES: ClassVar[Capabilities] = Capabilities(
        wake_up=WakeUp.CHANGE_MARKER,
        # A marker read 100 times a second while hungry (<1% of a core; bench/README.md): tasks
        # start ~10 ms after they are added instead of up to the poll interval.
        change_watch_seconds=0.01,
        server=True,
        insert_returning=True,
        update_returning=False,
        one_trip_transactions=True,  # CLIENT.MULTI_STATEMENTS: see MysqlSession.run_together
    )

    def _open_session(self, limits: Limits, _create: bool) -> Session:
        url = self.url
        try:
            conn = pymysql.connect(
                host=url.host,
                port=url.port or 3306,
                user=url.user or "root",
                password=url.password,
                database=url.database or None,
                charset="utf8mb4",
                autocommit=True,
                cursorclass=pymysql.cursors.DictCursor,
                # FOUND_ROWS: rowcount = rows matched, as elsewhere. MULTI_STATEMENTS: the hot
                # path sends a whole transaction at once (run_together); every value in the SQL
                # text is escaped by the driver, none is pasted in.
                client_flag=CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
                connect_timeout=CONNECT_TIMEOUT_S,
                init_command=SESSION_SETUP,
            )
        except pymysql.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to MySQL/MariaDB at {url.where} (database {url.database!r}, "
                f"user {url.user!r}): {scrub(str(exc), url.password)}"
            ) from exc
        session = MysqlSession(conn)
        try:
            _refuse_mysql(conn, url.where)
            session.run(ISOLATION)  # fewer gap locks between claimers than REPEATABLE READ
            self._run(session, "session_limits", limits.session_params())
        except BaseException:
            with suppress(Exception):
                conn.close()
            raise
        return session

    def placeholder(self, name: str) -> str:
        return f"%({name})s"

    def translate_error(self, exc: Exception) -> StratixQueueError | None:
        if not isinstance(exc, pymysql.Error):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = scrub(str(exc), self.url.password)
        if code in (DEADLOCK, LOCK_WAIT_TIMEOUT, STATEMENT_TIMEOUT):
            return TransientDatabaseError(f"MySQL/MariaDB: {text}")
        if code == DUPLICATE_ENTRY:
            return UniqueKeyConflictError(f"MySQL/MariaDB: {text}")
        if code in (NO_SUCH_TABLE, BAD_FIELD):
            return SchemaNotReadyError(
                f"the MySQL/MariaDB database {self.url.database!r} is not migrated ({text}); "
                "run `stratix-queue migrate` or queue.migrate()"
            )
        lost = code in CONNECTION_ERRORS or code == READ_ONLY
        if lost or isinstance(exc, pymysql.err.InterfaceError):
            return DatabaseUnavailableError(f"lost MySQL/MariaDB at {self.url.where}: {text}")
        return DatabaseError(f"MySQL/MariaDB: {text}")

    def _insert_keyed(self, session: Session, chunk: Sequence[NewJob]) -> list[tuple[Any, ...]]:
        """RETURNING answers the holder's row for a task whose key is held (ON DUPLICATE KEY
        UPDATE): the statement lists the holders it met in a session variable, read here."""
        session.run(self.queries["unique_holders_clear"])
        sql, params = self._keyed_statement(chunk)
        rows = session.rows(sql, params)
        held = session.run(self.queries["unique_holders_seen"]).rows[0]["held"]
        if held is None:
            return rows
        text = held.decode() if isinstance(held, bytes | bytearray) else str(held)
        holders = {int(part) for part in text.split(",")}
        return [row for row in rows if int(row[0]) not in holders]

    # -- the worker's hot path, one round trip each ---------------------------------------------

    def _one_trip(self, names: Sequence[str], params: dict[str, Any]) -> list[Result]:
        """The named statements in one round trip (see _bound_trip)."""
        return self._bound_trip([self._bound(name, params) for name in names])

    def _bound(self, name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        bound = self._bind(name, params)
        assert bound is not None, "no list parameter is empty here"
        return bound

    def _bound_trip(self, statements: Sequence[tuple[str, dict[str, Any]]]) -> list[Result]:
        """Statements in one round trip (one transaction when there are several), on a pooled
        connection that answered lately or passed a ping: nothing else tells a dead connection
        from a packet lost half-way. A lost connection is raised: the worker recovers (a claim
        is released by its token, a batch of successes written again, fenced)."""
        values: dict[str, Any] = {}
        for _, bound_values in statements:
            values.update(bound_values)
        texts = [sql for sql, _ in statements]
        while True:  # each stale connection found leaves the pool; a new one is fresh
            try:
                with self._session() as session:
                    assert isinstance(session, MysqlSession)
                    if session.stale():
                        raise _StaleSessionError
                    return session.run_together(texts, values)
            except _StaleSessionError:
                continue

    def claim_statements(self, params: ClaimParams) -> list[tuple[str, dict[str, Any]]]:
        """The claim's statements, bound: each lane's head, the lock of every lane, the mark
        and the read-back (CLAIM); or those of a worker restricted to groups."""
        values = claim_values(params)
        executors = params.executors or ()
        if params.groups is not None:
            return [self._bound(name, values) for name in CLAIM_IN_GROUPS]
        head, by_lane = self.queries["claim_read_head"], lane_values(executors)
        lock = {**values, "lanes": lanes(self.queries["claim_lane"], executors)}
        return [
            *((lane_sql(head, i), by_lane) for i in range(len(executors))),
            self._bound("claim_lock", lock),
            *(self._bound(name, values) for name in CLAIM),
        ]

    def _claimed_rows(self, params: ClaimParams) -> list[tuple[Any, ...]]:
        if (params.groups is not None and not params.groups) or not params.executors:
            return []  # no group to claim from, or nothing it could run
        statements = self.claim_statements(params)
        results = self._retry_transient(lambda: self._bound_trip(statements))
        return [tuple(row.values()) for row in results[-1].rows]  # job.CLAIMED_COLUMNS

    def _gate_rows(
        self, session: Session, params: ClaimParams, gate: str, limit: int
    ) -> list[tuple[Any, ...]]:
        """A gate's claim (flow_ops.py): lock its lanes, mark and read back, in the claim's
        transaction (no head read first: a gate's lanes are short)."""
        values = {**claim_values(params), "gate": gate, "limit": limit}
        lock = self._bind("gate_lock", {**values, **self._gate_lanes(params, "gate_lane")})
        assert lock is not None, "no list parameter is empty here"
        session.run(*lock)
        self._run(session, "gate_mark", values)
        return [tuple(row.values()) for row in self._run(session, "claim_read", values).rows]

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        """A copy, the rollups of what it copied and a delete in one round trip, with the
        (id, lease_token) pairs also as a list: the DELETE finds its rows by primary key and
        returns their ids. Items go in id order, the order in which heartbeat_jobs locks rows
        too. The rollups come summed from here when every item moved (success_rollup_summed),
        else from the rows that did (success_rollup)."""
        ordered = latest_successes(done)
        if not ordered:
            return set()
        params = {
            "items": success_items(ordered),
            "pairs": [(job.id, job.lease_token) for job, _ in ordered],
            "count": len(ordered),
            "rollups": rollup_rows((job.executor, job.group, ms) for job, ms in ordered),
        }
        results = self._one_trip(SUCCESS_BATCH, params)
        return {int(row["id"]) for row in results[-1].rows}

    def heartbeat(self, lease_seconds: float, leases: Sequence[tuple[int, str]]) -> int:
        """Renew each lease under its own token ((id, lease_token) pairs, in id order)."""
        ordered = sorted(set(leases))
        renewed = 0
        for start in range(0, len(ordered), ID_CHUNK):
            params = {"lease_seconds": lease_seconds, "leases": ordered[start : start + ID_CHUNK]}
            [result] = self._retry_transient(partial(self._one_trip, ("heartbeat_jobs",), params))
            renewed += result.rowcount
        return renewed


def _refuse_mysql(conn: pymysql.connections.Connection[Any], where: str) -> None:
    """MySQL 8 has no INSERT/DELETE ... RETURNING: say so at once, not at the first insert."""
    version: str = conn.get_server_info()  # type: ignore[no-untyped-call]
    if "mariadb" not in version.lower():
        raise UnsupportedURLError(
            f"the server at {where} is MySQL {version}; stratix-queue needs MariaDB 10.6+ "
            "(MySQL has no INSERT ... RETURNING)"
        )
