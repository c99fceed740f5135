"""SQLite: a file on this machine, opened as an SQLite URI (read-only for commands that only read),
one writer at a time, and this machine's clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import Connection, DateTime, Engine, Table, event, literal
from sqlalchemy.engine import URL
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql.elements import ColumnElement

from scrubctl.errors import DatabaseError, on_read_only_file_system, read_only_message
from scrubctl.glance.servers.base import ConnectionWatch, EngineRequest, EngineSetup, ServerKind
from scrubctl.glance.sqlite_waits import LockWaitWatch
from scrubctl.settings.utc import utc_now

# How long one SQLite statement waits for a lock another process holds before it fails ("database
# is locked", exit 3); after NOTICE_SECONDS of waiting a warning names the file (see sqlite_waits).
SQLITE_BUSY_TIMEOUT_SECONDS = 60
LOCKED = "database is locked"


class SQLite(ServerKind):
    """A Glance database in an SQLite file (the sandbox, small installs, tests)."""

    name = "sqlite"
    local_file = True
    parallel_reads = False
    clustered = False
    create_refused = "the SQLite database and its directory must be writable by this user"

    def opening_url(self, parsed: URL, shown: str, *, read_only: bool) -> str:
        """The file opened as an SQLite URI, ``mode=ro`` or ``mode=rw``: neither creates a missing
        file. In-memory databases and URLs that already are SQLite URIs (``?uri=true``) are left
        as they are."""
        database = parsed.database
        if not database or database == ":memory:" or "uri" in parsed.query:
            return parsed.render_as_string(hide_password=False)
        path = Path(database)
        if not path.exists():
            raise DatabaseError(f"no such database file: {path} (from {shown}); scrubctl never creates one")
        if not read_only:
            # SQLite writes its journal beside the file: the directory must be writable too.
            for target, subject in (
                (path, "the SQLite database"),
                (path.parent, "the directory of the SQLite database"),
            ):
                if on_read_only_file_system(target):
                    raise DatabaseError(read_only_message(f"{subject} {target}"))
        mode = "ro" if read_only else "rw"
        uri = parsed.set(database="file:" + quote(str(path)), query={**parsed.query, "mode": mode, "uri": "true"})
        return uri.render_as_string(hide_password=False)

    def engine_setup(self, parsed: URL, request: EngineRequest) -> EngineSetup:
        """Wait for another process's lock (warning after a while) instead of failing at once."""
        watch = LockWaitWatch(_sqlite_file(parsed), SQLITE_BUSY_TIMEOUT_SECONDS)
        options = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "factory": watch.connection_class()}}
        return EngineSetup(options=options, longest_wait=float(SQLITE_BUSY_TIMEOUT_SECONDS))

    def configure_engine(
        self, engine: Engine, setup: EngineSetup, request: EngineRequest, outage: ConnectionWatch
    ) -> None:
        """BEGIN issued by scrubctl (``IMMEDIATE`` for write batches); read-only is the URI's ``mode=ro``."""
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)

    def clock(self, seconds_ahead: float = 0.0) -> ColumnElement[datetime]:
        """This machine's clock (SQLite has no server)."""
        return literal(utc_now() + timedelta(seconds=seconds_ahead), DateTime)

    def clock_text(self, moments: Mapping[str, float]) -> tuple[dict[str, str], dict[str, object]]:
        """Bound values, written as SQLAlchemy's SQLite ``DateTime`` stores them (so that comparisons hold)."""
        now = utc_now()
        values: dict[str, object] = {
            name: (now + timedelta(seconds=ahead)).strftime("%Y-%m-%d %H:%M:%S.%f") for name, ahead in moments.items()
        }
        return {name: f":{name}" for name in moments}, values

    def create_table(self, connection: Connection, table: Table) -> None:
        """``CREATE TABLE IF NOT EXISTS`` and ``CREATE INDEX IF NOT EXISTS``, from the declaration."""
        connection.execute(CreateTable(table, if_not_exists=True))
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            connection.execute(CreateIndex(index, if_not_exists=True))

    def busy_message(self, error: BaseException) -> str | None:
        """The file stayed locked by another process longer than the busy timeout."""
        if LOCKED not in str(getattr(error, "orig", error)):
            return None
        return (
            f"the SQLite database is locked by another process (waited {SQLITE_BUSY_TIMEOUT_SECONDS} s); "
            "try again once it is done"
        )


def _sqlite_file(parsed: URL) -> str:
    """The SQLite database file a URL names (also through an SQLite URI, ``file:PATH?mode=ro``)."""
    database = parsed.database or ":memory:"
    if database.startswith("file:"):
        return unquote(database[len("file:") :].partition("?")[0])
    return database


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so that write batches can BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")


def _on_begin(connection: Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get("sqlite_write") else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")
