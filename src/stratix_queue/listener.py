"""Wake-up hints for idle workers in other processes: PostgreSQL LISTEN/NOTIFY, and on SQLite a
``PRAGMA data_version`` check. Polling stays the safety net either way."""

from __future__ import annotations

import logging
import threading

from stratix_queue.backends.base import SqlBackend
from stratix_queue.errors import StratixQueueError

log = logging.getLogger("stratix_queue.worker")


class WakeThread:
    """A daemon thread, on a connection of its own, that sets the worker's wake-up event."""

    name = "stratix-queue-wake"

    def __init__(self, backend: SqlBackend, wakeup: threading.Event) -> None:
        self.backend = backend
        self.wakeup = wakeup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        raise NotImplementedError


class Listener(WakeThread):
    """Holds one connection that LISTENs; every notification sets the worker's wake-up event."""

    name = "stratix-queue-listen"

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._listen()
                delay = 0.5
            except StratixQueueError as exc:
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _listen(self) -> None:
        with self.backend.dedicated_session() as session:
            session.run(self.backend.queries["listen"])
            log.info("listening for new tasks (LISTEN stratix_queue)")
            while not self._stop.is_set():
                for _ in session.notifications(timeout=1.0):
                    self.wakeup.set()


class ChangeWatcher(WakeThread):
    """SQLite: wake the worker when another process commits (``PRAGMA data_version``), checked
    every few milliseconds; no table is read."""

    name = "stratix-queue-watch"
    INTERVAL = 0.005

    def _run(self) -> None:
        try:
            with self.backend.dedicated_session() as session:
                query = self.backend.queries["data_version"]
                seen = session.run(query).rows[0]["data_version"]
                log.info(
                    "watching for new tasks (PRAGMA data_version every %.0f ms)",
                    self.INTERVAL * 1000,
                )
                while not self._stop.wait(self.INTERVAL):
                    version = session.run(query).rows[0]["data_version"]
                    if version != seen:
                        seen = version
                        self.wakeup.set()
        except StratixQueueError as exc:
            log.warning("change watcher stopped (%s); polling only", exc)
