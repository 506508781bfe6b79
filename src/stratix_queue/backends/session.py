"""A driver connection wrapped in one small interface, and a pool of them."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from stratix_queue.errors import DatabaseError

Row = dict[str, Any]
Params = Mapping[str, Any]
# A pooled connection the server answered on this recently is taken as alive; one silent for
# longer may have been dropped meanwhile (a server restart, an idle timeout).
FRESH_SECONDS = 1.0


class UniqueKeyConflictError(DatabaseError):
    """A write would give a unique key a second holder (the unique index refused it): the
    callers that can meet it (a retry) handle it, so it does not reach an application."""


def bound(params: Params | None) -> dict[str, Any]:
    """The parameters as the dict a driver binds: one that is a dict already is not copied."""
    return params if type(params) is dict else dict(params or {})


@dataclass(slots=True)
class Result:
    """Rows (when the statement returns any) and the count of rows it touched."""

    rows: list[Row] = field(default_factory=list)
    rowcount: int = 0
    returned_rows: bool = False


class Session(ABC):
    """One database connection. Outside ``begin``/``commit`` each statement commits alone."""

    answered_at: float = 0.0  # time.monotonic() of the server's last answer (servers only)
    # A statement in flight since busy_since (time.monotonic(); 0: none) and unanswered for
    # longer than deadline seconds is abandoned by the watchdog (servers only; watchdog.py).
    busy_since: float = 0.0
    deadline: float | None = None
    opened_at: float = 0.0  # time.monotonic() when the connection was opened (servers only)
    pool_generation: int = 0

    def fresh(self) -> bool:
        """Whether the server answered on this connection within FRESH_SECONDS. The callers
        choose how to treat one that is not: the insert path opens a transaction (its BEGIN
        meets a dead connection before the insert is sent), MariaDB's one-trip blocks ping."""
        return time.monotonic() - self.answered_at < FRESH_SECONDS

    @abstractmethod
    def run(self, sql: str, params: Params | None = None) -> Result: ...

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """The statement's rows as tuples, in the order of its columns (for a hot path that
        knows them: no names to look up)."""
        return [tuple(row.values()) for row in self.run(sql, params).rows]

    @abstractmethod
    def begin(self) -> None:
        """Start a write transaction (SQLite: BEGIN IMMEDIATE)."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def notifications(self, timeout: float) -> Iterator[str]:
        """Notifications received on a LISTENing session (PostgreSQL only)."""
        raise NotImplementedError("only PostgreSQL has LISTEN/NOTIFY")

    def abandon(self) -> None:  # noqa: B027 - a file (SQLite) has no socket: nothing to do
        """Shut the connection's socket down from another thread, so that a driver call waiting
        on a silent server fails at once (servers only)."""


def shutdown_socket(fd: int) -> None:
    """Shut down the socket behind a file descriptor another object owns (both directions: a
    blocked read returns at once); the descriptor itself stays open for its owner to close."""
    with socket.socket(fileno=os.dup(fd)) as dup:
        dup.shutdown(socket.SHUT_RDWR)


class Pool:
    """A LIFO pool of sessions, opened lazily; ``max_size`` bounds how many exist at once."""

    def __init__(self, connect: Callable[[], Session], max_size: int | None = None) -> None:
        self._connect = connect
        self._idle: list[Session] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_size) if max_size else None
        self._closed = False
        self._generation = 0  # sessions opened before the last invalidate() are not kept

    def checkout(self) -> Session:
        """A session for the caller alone; hand it back with ``checkin``."""
        if self._slots is not None:
            self._slots.acquire()
        try:
            return self._take()
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    def checkin(self, session: Session, failed: bool = False) -> None:
        """Take a session back; after a failure it is kept only if a rollback works."""
        try:
            if failed:
                self._discard_or_keep(session)
            else:
                self._give_back(session)
        finally:
            if self._slots is not None:
                self._slots.release()

    def _take(self) -> Session:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            generation = self._generation
        session = self._connect()
        session.pool_generation = generation
        return session

    def _give_back(self, session: Session) -> None:
        with self._lock:
            if not self._closed and session.pool_generation == self._generation:
                self._idle.append(session)
                return
        _close_quietly(session)

    def invalidate(self) -> None:
        """Close the idle sessions now and every session in use when it comes back: one went
        silent, and whatever silenced it (a proxy, a NAT table) likely holds the others too."""
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for session in idle:
            with contextlib.suppress(Exception):
                session.abandon()  # closing may write to a silent socket: make it fail fast
            _close_quietly(session)

    def _discard_or_keep(self, session: Session) -> None:
        """After an error: keep the session if a rollback works, else close it."""
        try:
            session.rollback()
        except Exception:
            _close_quietly(session)
            return
        self._give_back(session)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for session in idle:
            _close_quietly(session)


def _close_quietly(session: Session) -> None:
    with contextlib.suppress(Exception):  # a broken connection may fail to close
        session.close()
