"""Saying so when a SQLite database waits for another process's lock.

SQLite waits for a lock another process holds (Glance's API writing, another scrubctl run) up to
its busy timeout, in silence. Every statement and commit on a watched connection is timed: one that
has made no progress for :data:`NOTICE_SECONDS` (SQLite runs no instruction while it waits for a
lock; a progress handler tells the two apart) gets one warning line naming the file and the bound.
One watcher thread per database looks at the statements in flight twice a second, and ends once
none has run for a while.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

NOTICE_SECONDS = 3.0
POLL_SECONDS = 0.5
IDLE_EXIT_SECONDS = 5.0  # the watcher thread ends after this long without a statement in flight
PROGRESS_INSTRUCTIONS = 100_000  # SQLite instructions between two progress marks (a fraction of a millisecond)


class _Statement:
    """The statement in flight on one connection: when it began and when SQLite last made progress.

    ``with statement:`` times what the block runs (a statement, a commit) on ``watch``."""

    __slots__ = ("noticed", "progressed", "started", "watch")

    def __init__(self, watch: LockWaitWatch) -> None:
        self.watch = watch
        self.started = self.progressed = 0.0
        self.noticed = False

    def __enter__(self) -> None:
        self.watch.begin(self)

    def __exit__(self, *exception: object) -> None:
        self.watch.end(self)

    def progress(self) -> int:
        """SQLite's progress handler: mark the time, and go on (0)."""
        self.progressed = time.monotonic()
        return 0


class LockWaitWatch:
    """Watches the statements of one SQLite database and warns, once per statement, of a long wait."""

    def __init__(self, file: str, bound_seconds: float, notice_seconds: float = NOTICE_SECONDS) -> None:
        self.file = file
        self.bound_seconds = bound_seconds
        self.notice_seconds = notice_seconds
        self._lock = threading.Lock()
        self._in_flight: dict[int, _Statement] = {}
        self._watcher: threading.Thread | None = None

    def connection_class(self) -> type[sqlite3.Connection]:
        """A ``sqlite3.Connection`` class (``factory=`` of ``sqlite3.connect``) whose statements and
        commits this watch times."""
        watch = self

        class WatchedCursor(sqlite3.Cursor):
            def execute(self, sql: str, parameters: Any = (), /) -> WatchedCursor:
                with self.connection._statement:  # type: ignore[attr-defined]
                    return super().execute(sql, parameters)

            def executemany(self, sql: str, parameters: Any, /) -> WatchedCursor:
                with self.connection._statement:  # type: ignore[attr-defined]
                    return super().executemany(sql, parameters)

        class WatchedConnection(sqlite3.Connection):
            def __init__(self, *args: Any, **keywords: Any) -> None:
                super().__init__(*args, **keywords)
                self._statement = _Statement(watch)
                self.set_progress_handler(self._statement.progress, PROGRESS_INSTRUCTIONS)

            def cursor(self, factory: Any = WatchedCursor) -> Any:
                return super().cursor(factory)

            def commit(self) -> None:
                with self._statement:
                    super().commit()

        return WatchedConnection

    def begin(self, statement: _Statement) -> None:
        """A statement (or a commit) starts."""
        statement.started = statement.progressed = time.monotonic()
        statement.noticed = False
        with self._lock:
            self._in_flight[id(statement)] = statement
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="scrubctl-sqlite-waits", daemon=True)
                self._watcher.start()

    def end(self, statement: _Statement) -> None:
        """The statement has ended (done or failed)."""
        with self._lock:
            self._in_flight.pop(id(statement), None)

    def _watch(self) -> None:
        idle_since = time.monotonic()
        while True:
            time.sleep(POLL_SECONDS)
            now = time.monotonic()
            waiting = 0
            with self._lock:
                if not self._in_flight:
                    if now - idle_since >= IDLE_EXIT_SECONDS:
                        self._watcher = None
                        return
                    continue
                idle_since = now
                for statement in self._in_flight.values():
                    if not statement.noticed and now - statement.progressed >= self.notice_seconds:
                        statement.noticed = True
                        waiting += 1
            if waiting:
                logger.warning(
                    "waiting for another process's lock on SQLite database %s (for at most %g s)",
                    self.file,
                    self.bound_seconds,
                )
