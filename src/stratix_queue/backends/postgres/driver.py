"""PostgreSQL (psycopg 3): FOR UPDATE SKIP LOCKED claims, one-statement moves, LISTEN/NOTIFY."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from stratix_queue.backends.driver import Capabilities, WakeUp
from stratix_queue.backends.limits import Limits
from stratix_queue.backends.session import (
    Params,
    Result,
    Session,
    UniqueKeyConflictError,
    bound,
    shutdown_socket,
)
from stratix_queue.backends.sql_driver import SqlDriver
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    DriverNotInstalledError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.job import Job
from stratix_queue.rollups import bucket_of
from stratix_queue.urls import scrub

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.pq import ExecStatus, TransactionStatus
    from psycopg.rows import dict_row, tuple_row
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise DriverNotInstalledError(
        "PostgreSQL needs psycopg 3: pip install 'stratix-queue[postgres]'"
    ) from exc

CONNECT_TIMEOUT_S = 10
# libpq's TCP settings: a peer that stops acknowledging (a dropped NAT entry, a partition) fails
# a connection within ~25 s when idle (keepalives) and ~20 s with data unacknowledged. A peer
# that acknowledges but never answers (a wedged proxy) is the watchdog's (watchdog.py).
KEEPALIVES: dict[str, str | int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}
_TRANSIENT = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,  # the session's statement_timeout: an overloaded server
)
_UNAVAILABLE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    pg_errors.ReadOnlySqlTransaction,  # a standby, or a failover under way
    pg_errors.IdleInTransactionSessionTimeout,  # the session_limits block ended it
)
_SCHEMA = (pg_errors.UndefinedTable, pg_errors.UndefinedColumn)


class PostgresSession(Session):
    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self.conn = conn
        self.answered_at = time.monotonic()  # it has just answered the connection's set-up
        # rows()' cursor, kept: a new cursor per statement and dict rows slow add_task down.
        self._tuples = conn.cursor(row_factory=tuple_row)

    def run(self, sql: str, params: Params | None = None) -> Result:
        # The SQL comes from the package's own .sql files, never from values.
        self.busy_since = time.monotonic()
        try:
            cursor = self.conn.execute(sql, bound(params))
        finally:
            self.busy_since = 0.0
        self.answered_at = time.monotonic()
        # The result's status, not cursor.description (which builds Column objects each time).
        if cursor.pgresult is None or cursor.pgresult.status != ExecStatus.TUPLES_OK:
            return Result(rowcount=cursor.rowcount)
        rows = cursor.fetchall()
        return Result(rows=rows, rowcount=len(rows), returned_rows=True)

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """For a statement that returns rows (an insert's RETURNING)."""
        cursor = self._tuples
        self.busy_since = time.monotonic()
        try:
            cursor.execute(sql, bound(params))
        finally:
            self.busy_since = 0.0
        self.answered_at = time.monotonic()
        return cursor.fetchall()

    def begin(self) -> None:
        self._plain("BEGIN")

    def commit(self) -> None:
        self._plain("COMMIT")

    def rollback(self) -> None:
        if self.conn.info.transaction_status != TransactionStatus.IDLE:
            self._plain("ROLLBACK")

    def _plain(self, sql: str) -> None:
        self.busy_since = time.monotonic()
        try:
            self.conn.execute(sql)
        finally:
            self.busy_since = 0.0
        self.answered_at = time.monotonic()

    def close(self) -> None:
        self.conn.close()

    def abandon(self) -> None:
        if not self.conn.closed:
            shutdown_socket(self.conn.pgconn.socket)

    def notifications(self, timeout: float) -> Iterator[str]:
        for notify in self.conn.notifies(timeout=timeout):
            yield notify.payload


class PostgresDriver(SqlDriver):
    dialect: ClassVar[str] = "postgres"
    package_dir: ClassVar[str] = os.path.dirname(os.path.abspath(__file__))
    CAPABILITIES: ClassVar[Capabilities] = Capabilities(
        wake_up=WakeUp.NOTIFY,  # the insert, a give-back and a released claim NOTIFY at commit
        change_watch_seconds=None,
        server=True,
        insert_returning=True,
        update_returning=True,
        one_trip_transactions=False,
    )

    def _open_session(self, limits: Limits, _create: bool) -> Session:
        url = self.url
        try:
            conn = psycopg.connect(
                psycopg.conninfo.make_conninfo(
                    "",
                    **{
                        "host": url.host,
                        "port": url.port,
                        "user": url.user or None,
                        "password": url.password or None,
                        "dbname": url.database or None,
                        "connect_timeout": CONNECT_TIMEOUT_S,
                        **KEEPALIVES,
                        **url.query,  # e.g. sslmode, application_name; they win
                    },
                ),
                autocommit=True,
                row_factory=dict_row,
            )
        except psycopg.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to PostgreSQL at {url.where} (database {url.database!r}, "
                f"user {url.user!r}): {scrub(str(exc), url.password)}"
            ) from exc
        session = PostgresSession(conn)
        try:
            self._run(session, "session_limits", limits.session_params())
        except BaseException:
            conn.close()
            raise
        return session

    def placeholder(self, name: str) -> str:
        return f"%({name})s"

    def translate_error(self, exc: Exception) -> StratixQueueError | None:
        if not isinstance(exc, psycopg.Error):
            return None
        text = scrub(str(exc).strip(), self.url.password)
        if isinstance(exc, _TRANSIENT):
            return TransientDatabaseError(f"PostgreSQL: {text}")
        if isinstance(exc, pg_errors.UniqueViolation):
            return UniqueKeyConflictError(f"PostgreSQL: {text}")
        if isinstance(exc, _SCHEMA):
            return SchemaNotReadyError(
                f"the PostgreSQL database {self.url.database!r} is not migrated ({text}); "
                "run `stratix-queue migrate` or queue.migrate()"
            )
        if isinstance(exc, _UNAVAILABLE):
            return DatabaseUnavailableError(f"lost PostgreSQL at {self.url.where}: {text}")
        return DatabaseError(f"PostgreSQL: {text}")

    def move_to_success(self, job: Job, execution_time_ms: int) -> bool:
        """One statement: data-modifying CTEs delete the row, add it to its rollup and insert
        it in queue_success."""
        extra = {"execution_time": execution_time_ms, "bucket": bucket_of(execution_time_ms)}
        return self._fenced(job, ("move_to_success",), extra)

    def listen(self, session: Session) -> None:
        self._run(session, "listen")
