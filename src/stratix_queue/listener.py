"""Wake-up hints for idle workers in other processes: PostgreSQL LISTEN/NOTIFY; on SQLite and
MySQL/MariaDB a change marker checked every few milliseconds (SQLite's ``PRAGMA data_version``,
the newest task id on MySQL/MariaDB). Polling stays the safety net either way."""

from __future__ import annotations

import logging
import threading

from stratix_queue.backends.base import SqlBackend
from stratix_queue.errors import StratixQueueError

log = logging.getLogger("stratix_queue.worker")


class WakeThread:
    """A daemon thread, on a connection of its own, that sets the worker's wake-up event. A lost
    connection is opened again, with a growing pause; meanwhile the worker polls. ``hungry`` is
    set while the worker would claim a new task at once (its last claim came back short)."""

    name = "stratix-queue-wake"

    def __init__(
        self, backend: SqlBackend, wakeup: threading.Event, hungry: threading.Event
    ) -> None:
        self.backend = backend
        self.wakeup = wakeup
        self.hungry = hungry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._watch()
                delay = 0.5
            except StratixQueueError as exc:
                log.warning("%s connection lost (%s); polling until it is back", self.name, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _watch(self) -> None:
        """Set the wake-up event on every sign of new work until stopped."""
        raise NotImplementedError


class Listener(WakeThread):
    """Holds one connection that LISTENs; every notification sets the worker's wake-up event."""

    name = "stratix-queue-listen"

    def _watch(self) -> None:
        with self.backend.dedicated_session() as session:
            session.run(self.backend.queries["listen"])
            log.info("listening for new tasks (LISTEN stratix_queue)")
            while not self._stop.is_set():
                for _ in session.notifications(timeout=1.0):
                    self.wakeup.set()


class ChangeWatcher(WakeThread):
    """Reads the backend's change marker every ``change_watch_interval`` seconds and wakes the
    worker when it moved; only while the worker is hungry and has no wake-up it has not taken
    yet (a busy worker claims again as its slots free: no reads then)."""

    name = "stratix-queue-watch"

    def _watch(self) -> None:
        interval = self.backend.change_watch_interval
        assert interval is not None
        query = self.backend.queries["change_marker"]
        with self.backend.dedicated_session() as session:
            seen = session.run(query).rows[0]["marker"]
            log.info("watching for new tasks (change marker every %.0f ms)", interval * 1000)
            while not self._stop.wait(interval):
                if self.wakeup.is_set() or not self.hungry.is_set():
                    continue
                marker = session.run(query).rows[0]["marker"]
                if marker != seen:
                    seen = marker
                    self.wakeup.set()
