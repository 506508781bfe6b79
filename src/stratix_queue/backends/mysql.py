"""MySQL 8 / MariaDB 10.6+ backend (PyMySQL): SKIP LOCKED claims, deadlock retries."""

from __future__ import annotations

from typing import Any, ClassVar

from stratix_queue.backends.base import SqlBackend
from stratix_queue.backends.session import Params, Result, Session
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    DriverNotInstalledError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
)
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
NO_SUCH_TABLE, BAD_FIELD = 1146, 1054
# Connection-level failures: can't connect, server gone away, lost during query, etc.
CONNECTION_ERRORS = {2002, 2003, 2005, 2006, 2013, 2014, 2055, 1053, 1927, 4031}
SESSION_SETUP = "SET time_zone = '+00:00'"
ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"


class MysqlSession(Session):
    def __init__(self, conn: pymysql.connections.Connection[Any]) -> None:
        self.conn = conn

    def run(self, sql: str, params: Params | None = None) -> Result:
        with self.conn.cursor() as cursor:
            count = cursor.execute(sql, dict(params) if params else None)
            if cursor.description is None:
                return Result(rowcount=count)
            rows = list(cursor.fetchall())
        return Result(rows=rows, rowcount=len(rows), returned_rows=True)

    def begin(self) -> None:
        self.conn.begin()

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


class MysqlBackend(SqlBackend):
    dialect: ClassVar[str] = "mysql"
    queries: ClassVar[dict[str, str]] = load_queries("mysql")
    autocommit_statements: ClassVar[bool] = True

    def _open_session(self) -> Session:
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
                client_flag=CLIENT.FOUND_ROWS,  # rowcount = rows matched, as elsewhere
                connect_timeout=CONNECT_TIMEOUT_S,
                init_command=SESSION_SETUP,
            )
        except pymysql.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to MySQL/MariaDB at {url.where} (database {url.database!r}, "
                f"user {url.user!r}): {scrub(str(exc), url.password)}"
            ) from None
        session = MysqlSession(conn)
        session.run(ISOLATION)  # fewer gap locks between claimers than REPEATABLE READ
        return session

    def placeholder(self, name: str) -> str:
        return f"%({name})s"

    def translate_error(self, exc: Exception) -> StratixQueueError | None:
        if not isinstance(exc, pymysql.Error):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = scrub(str(exc), self.url.password)
        if code in (DEADLOCK, LOCK_WAIT_TIMEOUT):
            return TransientDatabaseError(f"MySQL/MariaDB: {text}")
        if code in (NO_SUCH_TABLE, BAD_FIELD):
            return SchemaNotReadyError(
                f"the MySQL/MariaDB database {self.url.database!r} is not migrated ({text}); "
                "run `stratix-queue migrate` or queue.migrate()"
            )
        if code in CONNECTION_ERRORS or isinstance(exc, pymysql.err.InterfaceError):
            return DatabaseUnavailableError(f"lost MySQL/MariaDB at {self.url.where}: {text}")
        return DatabaseError(f"MySQL/MariaDB: {text}")
