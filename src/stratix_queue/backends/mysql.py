"""MySQL 8 / MariaDB 10.6+ backend (PyMySQL): SKIP LOCKED claims, deadlock retries, and the
worker's hot path in one round trip per claim and per batch of successes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, ClassVar

from stratix_queue.backends.base import ID_CHUNK, ScriptResult, SqlBackend
from stratix_queue.backends.limits import Limits
from stratix_queue.backends.session import Params, Result, Session
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    DriverNotInstalledError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.job import Job
from stratix_queue.sqlfile import load_queries
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
# Connection-level failures: can't connect, server gone away, lost during query, etc.
CONNECTION_ERRORS = {2002, 2003, 2005, 2006, 2013, 2014, 2055, 1053, 1927, 4031}
# group_concat_max_len also bounds JSON_ARRAYAGG, which carries a claim's ids (claim_jobs).
SESSION_SETUP = "SET time_zone = '+00:00', group_concat_max_len = 1073741824"
ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
# The worker's hot path: blocks whose statements need nothing back from one another before
# the next runs, so the whole block goes to the server in one round trip (see run_together).
ONE_TRIP = frozenset(
    {"claim_jobs", "claim_jobs_in_groups", "move_many_to_success", "heartbeat_jobs"}
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


class MysqlBackend(SqlBackend):
    dialect: ClassVar[str] = "mysql"
    # A round trip (~60 µs of the worker's CPU; on the server a primary-key lookup and a count
    # of at most 100 index entries) 100 times a second while hungry, <1% of a core, for tasks
    # started ~10 ms after they are added instead of up to the poll interval.
    change_watch_interval: ClassVar[float | None] = 0.01
    queries: ClassVar[dict[str, str]] = load_queries("mysql")
    autocommit_statements: ClassVar[bool] = True

    def _open_session(self, limits: Limits) -> Session:
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
            session.run(ISOLATION)  # fewer gap locks between claimers than REPEATABLE READ
            session.run(self.queries["session_limits"], limits.session_params())
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
        if code in (NO_SUCH_TABLE, BAD_FIELD):
            return SchemaNotReadyError(
                f"the MySQL/MariaDB database {self.url.database!r} is not migrated ({text}); "
                "run `stratix-queue migrate` or queue.migrate()"
            )
        lost = code in CONNECTION_ERRORS or code == READ_ONLY
        if lost or isinstance(exc, pymysql.err.InterfaceError):
            return DatabaseUnavailableError(f"lost MySQL/MariaDB at {self.url.where}: {text}")
        return DatabaseError(f"MySQL/MariaDB: {text}")

    # -- the worker's hot path, one round trip each ---------------------------------------------

    def _write_hot(
        self, name: str, params: Params, ids: Sequence[int] | None = None
    ) -> ScriptResult:
        """A ONE_TRIP block runs in one round trip (one transaction when it has several
        statements); deadlocks and lock wait timeouts are retried as for any write, and a lost
        connection is raised (the worker recovers: a claim is released by its token, a batch of
        successes written again, fenced). Other blocks run as the shared core runs them."""
        if name not in ONE_TRIP or ids is not None:
            return super()._write_hot(name, params, ids)
        expanded = self._expand_lists(name, params)
        if expanded is None:
            return ScriptResult([], [0])  # an empty IN () list: nothing to do
        statements, values = expanded

        def once() -> ScriptResult:
            while True:  # each stale connection found leaves the pool; a new one is fresh
                try:
                    with self.session() as session:
                        assert isinstance(session, MysqlSession)
                        if session.stale():
                            raise _StaleSessionError
                        results = session.run_together(statements, values)
                    break
                except _StaleSessionError:
                    continue
            rows = next((r.rows for r in reversed(results) if r.returned_rows), [])
            return ScriptResult(rows, [r.rowcount for r in results])

        return self._retry_transient(once)

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        """As the shared core's, with the (id, lease_token) pairs also as a list: the DELETE
        finds its rows by primary key and returns their ids. Items go in id order, the order in
        which heartbeat_jobs locks rows too."""
        latest = {job.id: (job, ms) for job, ms in done}  # a task listed twice moves once
        ordered = [latest[job_id] for job_id in sorted(latest)]
        if not ordered:
            return set()
        params = {
            "items": json.dumps([[job.id, job.lease_token, ms] for job, ms in ordered]),
            "pairs": [(job.id, job.lease_token) for job, _ in ordered],
        }
        rows = self._write_hot("move_many_to_success", params).rows
        return {int(row["id"]) for row in rows}

    def heartbeat(self, lease_seconds: float, leases: Sequence[tuple[int, str]]) -> int:
        """Renew each lease under its own token ((id, lease_token) pairs, in id order)."""
        ordered = sorted(set(leases))
        renewed = 0
        for start in range(0, len(ordered), ID_CHUNK):
            params = {"lease_seconds": lease_seconds, "leases": ordered[start : start + ID_CHUNK]}
            renewed += self._write_hot("heartbeat_jobs", params).rowcounts[-1]
        return renewed
