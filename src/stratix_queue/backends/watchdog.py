"""Abandon a server connection that stops answering.

A statement sent to PostgreSQL or MariaDB answers in milliseconds, or is cancelled by the
server's own statement timeout. One that gets no answer at all for a session's ``deadline`` is
taken as a silent connection: a dropped NAT or firewall entry, a wedged pooler or proxy, a
partition. TCP keepalives cannot tell a wedged proxy from a slow server (the proxy's kernel still
acknowledges every probe), so a watchdog thread checks the statements in flight and shuts the
socket of a silent one down: the waiting driver call fails at once and its caller reconnects.

One thread per process watches every session; it is started on first use and again in a forked
child (threads do not survive a fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stratix_queue.backends.session import Session

log = logging.getLogger("stratix_queue.backends")
TICK_SECONDS = 0.5  # how often statements in flight are checked: the bound's granularity


class Owner(Protocol):
    """The backend a session belongs to."""

    def _on_silent(self, session: Session, seconds: float) -> None: ...


class Watchdog:
    """Calls its owner's ``_on_silent(session, seconds)`` once for a statement unanswered past
    the session's deadline, after shutting the session's socket down."""

    def __init__(self) -> None:
        self._watched: weakref.WeakKeyDictionary[Session, Owner] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, session: Session, owner: Owner) -> None:
        with self._lock:
            self._watched[session] = owner
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="stratix-queue-watchdog", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        with self._lock:
            watched = list(self._watched.items())
        for session, owner in watched:
            since, deadline = session.busy_since, session.deadline
            if not since or deadline is None or now - since < deadline:
                continue
            # Whatever silenced this connection (a proxy, a NAT table, a partition) silenced the
            # owner's other connections that were already open then: they go too, at once, so
            # the outage is met once rather than one connection and one deadline at a time.
            suspects = [s for s, o in watched if o is owner and s.opened_at <= since]
            for suspect in suspects:
                suspect.busy_since = 0.0
                _abandon(suspect)
            owner._on_silent(session, now - since)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._thread = None
        self._watched = weakref.WeakKeyDictionary()


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.reset_after_fork)


def _abandon(session: Session) -> None:
    try:
        session.abandon()
    except Exception:  # a socket already gone: the driver call fails by itself
        log.debug("abandoning a silent connection failed", exc_info=True)
