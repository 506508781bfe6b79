""":class:`SqlCore`: what every SQL database's driver does the same way: a pool of sessions
watched for silence, named queries (one statement each) bound with their list parameters,
transactions retried while contended, and fenced writes about one task.

``{key}`` in a query stands for the list ``params[key]``: one placeholder per item, or a row
constructor per tuple.
"""

from __future__ import annotations

import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, ClassVar, NoReturn, TypeVar

from stratix_queue.backends.driver import Capabilities
from stratix_queue.backends.limits import (
    CONTENTION_RETRIES,
    UNLIMITED,
    Health,
    Limits,
    contention_pause,
)
from stratix_queue.backends.session import Params, Pool, Result, Row, Session
from stratix_queue.backends.watchdog import WATCHDOG
from stratix_queue.errors import (
    DatabaseUnavailableError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.job import Job
from stratix_queue.sqlfile import load_queries
from stratix_queue.urls import DatabaseURL

T = TypeVar("T")
LIST_MARKER = re.compile(r"\{(\w+)\}")  # a list parameter in a named query: {ids}, {groups}


class _AbortError(Exception):
    """Roll the transaction back and report 'nothing changed'."""


class Borrowed:
    """A pooled session for one ``with`` block: driver errors come out translated, and the
    session goes back to the pool (after an error, only if a rollback works). A class rather
    than generator-based context managers: it is on the path of every statement."""

    __slots__ = ("_backend", "_session")

    def __init__(self, backend: SqlCore) -> None:
        self._backend = backend

    def __enter__(self) -> Session:
        try:
            self._session = self._backend._pool.checkout()
        except StratixQueueError:
            raise
        except Exception as exc:
            self._backend._raise_translated(exc)
        return self._session

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        self._backend._pool.checkin(self._session, failed=exc is not None)
        if isinstance(exc, Exception) and not isinstance(exc, StratixQueueError):
            self._backend._raise_translated(exc)


class SqlCore(ABC):
    """Sessions and statements; SqlDriver adds the operations."""

    dialect: ClassVar[str]
    package_dir: ClassVar[str]  # the database's package: queries.sql and migrations/
    CAPABILITIES: ClassVar[Capabilities]

    def __init__(self, url: DatabaseURL, limits: Limits | None = None) -> None:
        self.url = url
        self.capabilities = self._capabilities()
        self.limits = Limits() if limits is None else limits
        self.health = Health(url.where)
        self.queries = load_queries(self.package_dir)
        self.migrations_dir = os.path.join(self.package_dir, "migrations")
        self._lists = {name: tuple(LIST_MARKER.findall(sql)) for name, sql in self.queries.items()}
        self._pool = Pool(self._connect, self._pool_size())

    # -- what each database's package supplies ---------------------------------------------

    @abstractmethod
    def _open_session(self, limits: Limits, create: bool) -> Session:
        """A new connection with ``limits`` set on the server's side of it; ``create``: it may
        create the database (a SQLite file: only migrating does)."""

    @abstractmethod
    def placeholder(self, name: str) -> str:
        """How a named parameter is written in this database's SQL."""

    @abstractmethod
    def translate_error(self, exc: Exception) -> StratixQueueError | None:
        """The stratix_queue error for a driver error, or None if it is not one."""

    def _capabilities(self) -> Capabilities:
        return self.CAPABILITIES

    def _pool_size(self) -> int | None:
        return None

    def database_exists(self) -> bool:
        """Whether the database itself exists (a server's is assumed to)."""
        return True

    def _param(self, value: Any) -> Any:
        return value

    # -- sessions ---------------------------------------------------------------------------

    def close(self) -> None:
        self._pool.close()

    def use_limits(self, limits: Limits) -> None:
        """Open the sessions from now on with ``limits`` (a server's pooled ones are closed; a
        file has no limits, and closing its last connection would checkpoint the WAL)."""
        if limits != self.limits and self.capabilities.server:
            self.limits = limits
            self._pool.invalidate()

    def _connect(self, limits: Limits | None = None, create: bool = False) -> Session:
        """A new session; on a server, watched for silence (watchdog.py)."""
        limits = self.limits if limits is None else limits
        opened_at = time.monotonic()
        session = self._open_session(limits, create)
        if self.capabilities.server:
            session.opened_at = opened_at
            session.deadline = limits.deadline
            WATCHDOG.watch(session, self)
        return session

    def _on_silent(self, _session: Session, seconds: float) -> None:
        """A statement got no answer for ``seconds``: the watchdog shut its connection down and
        the others open since before it; the pool keeps none of them."""
        self.health.failed(
            "get an answer",
            f"no answer for {seconds:.1f} s (a silent network, proxy or pooler?); the "
            "connections open since then are closed",
        )
        self._pool.invalidate()

    def _raise_translated(self, exc: Exception) -> NoReturn:
        """Raise a driver error as the package's own (the original kept as ``__cause__``)."""
        translated = self.translate_error(exc)
        if translated is None:
            raise exc
        raise translated from exc

    def _session(self) -> Borrowed:
        """A pooled session for a ``with`` block, with driver errors translated."""
        return Borrowed(self)

    @contextmanager
    def dedicated_session(
        self, limits: Limits | None = None, create: bool = False
    ) -> Iterator[Session]:
        """A session of its own, outside the pool, closed afterwards (for LISTEN, a change
        watcher, migrations)."""
        try:
            session = self._connect(limits, create)
            try:
                yield session
            finally:
                with suppress(Exception):
                    session.close()
        except StratixQueueError:
            raise
        except Exception as exc:
            self._raise_translated(exc)

    def migration_session(self) -> AbstractContextManager[Session]:
        """A session without statement limits or watchdog deadline (an ALTER TABLE may take
        minutes) that may create the database (a SQLite file). A file's pooled session has no
        limits, and is the only one of an in-memory database."""
        if not self.capabilities.server:
            return self._file_migration_session()
        return self.dedicated_session(UNLIMITED)

    @contextmanager
    def _file_migration_session(self) -> Iterator[Session]:
        if not self.database_exists():
            with self.dedicated_session(create=True):
                pass  # creates the file, with the page size and WAL of a new database
        with self._session() as session:
            yield session

    # -- running named statements -------------------------------------------------------------

    def _bind(self, name: str, params: Params | None) -> tuple[str, dict[str, Any]] | None:
        """Query ``name`` with its lists expanded, and the values to bind; None if a list is
        empty (an ``IN ()`` would match nothing: nothing to do)."""
        sql = self.queries[name]
        values = {key: self._param(value) for key, value in (params or {}).items()}
        for key in self._lists[name]:
            items = list(values.pop(key))
            if not items:
                return None
            sql = self._expand_list(sql, key, items, values)
        return sql, values

    def _expand_list(self, sql: str, key: str, items: Sequence[Any], values: dict[str, Any]) -> str:
        """Replace ``{key}`` with one placeholder per item (a row constructor ``(a, b)`` per
        tuple), adding their values to ``values``."""
        marks = []
        for i, item in enumerate(items):
            if isinstance(item, tuple):
                parts = [f"{key}_{i}_{j}" for j in range(len(item))]
                values.update(zip(parts, item, strict=True))
                marks.append("(" + ", ".join(map(self.placeholder, parts)) + ")")
            else:
                values[f"{key}_{i}"] = item
                marks.append(self.placeholder(f"{key}_{i}"))
        return sql.replace(f"{{{key}}}", ", ".join(marks))

    def _run(self, session: Session, name: str, params: Params | None = None) -> Result:
        """Run query ``name`` on ``session``; an empty list parameter runs nothing."""
        bound = self._bind(name, params)
        if bound is None:
            return Result()
        return session.run(*bound)

    def _read(self, name: str, params: Params | None = None) -> list[Row]:
        for attempt in range(2):
            try:
                with self._session() as session:
                    return self._run(session, name, params).rows
            except DatabaseUnavailableError:
                if attempt:  # a pooled connection may be stale after a server restart
                    raise
        raise AssertionError("unreachable")

    def _write(self, name: str, params: Params | None = None) -> Result:
        """One statement in a transaction of its own, retried while contended."""
        return self._transaction(lambda session: self._run(session, name, params))

    def _retry_transient(self, once: Callable[[], T]) -> T:
        """Call ``once`` again, with a short random backoff, while it fails transiently (a
        deadlock victim, a lock wait timeout, a busy SQLite file: the server rolled it back).
        Not for outcomes: the worker's outcome writer has its own policy (outcomes.py)."""
        for attempt in range(CONTENTION_RETRIES):
            try:
                return once()
            except TransientDatabaseError:
                time.sleep(contention_pause(attempt))
        return once()

    def _transaction(self, body: Callable[[Session], T]) -> T:
        return self._retry_transient(lambda: self._in_transaction(body))

    def _in_transaction(self, body: Callable[[Session], T]) -> T:
        for stale_retry in (True, False):
            started = False
            try:
                with self._session() as session:
                    session.begin()
                    started = True
                    try:
                        result = body(session)
                    except _AbortError:
                        session.rollback()
                        raise
                    session.commit()
                    return result
            except DatabaseUnavailableError:
                if started or not stale_retry:  # only a stale connection failing at BEGIN
                    raise
        raise AssertionError("unreachable")

    def _single(self, body: Callable[[Session], T]) -> T:
        """The worker's hot path, one statement: in autocommit where a statement is its own
        transaction (one round trip instead of BEGIN, statement, COMMIT; not SQLite, whose writes
        take BEGIN IMMEDIATE). A lost connection is raised, not retried: the worker recovers (a
        claim is released by its token, an outcome written again, fenced)."""
        if not self.capabilities.server:
            return self._in_transaction(body)
        with self._session() as session:
            return body(session)

    def _fenced(
        self, job: Job, names: Sequence[str], extra: Params, then: Sequence[str] = ()
    ) -> bool:
        """Statements about one job, in one transaction, that apply only if the row is as the
        Job was read: each must touch exactly one row, or all roll back. ``then``: statements
        run after them in the same transaction (an upsert, whose row count varies)."""
        params = {"id": job.id, "status": job.status.value, "lease_token": job.lease_token, **extra}

        def body(session: Session) -> bool:
            for name in names:
                if self._run(session, name, params).rowcount != 1:
                    raise _AbortError
            for name in then:
                self._run(session, name, params)
            return True

        try:
            return self._in_transaction(body)
        except _AbortError:
            return False
