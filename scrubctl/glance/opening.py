"""Opening Glance's database for a command: only a server kind scrubctl supports, read-only when
the command only reads, and never creating a database file.

scrubctl supports MySQL and MariaDB (through PyMySQL) and SQLite. Glance also runs on PostgreSQL
through oslo.db; scrubctl refuses it, plainly, rather than run its claims and guarded updates on a
server whose locking and conflict errors it was never tested against.

A SQLite path is opened through an SQLite URI: ``mode=ro`` for read-only commands (``list-pending``,
``show``, ``check``, every ``--dry-run``), ``mode=rw`` otherwise; neither creates a missing file,
which is reported as "no such database file". A SQLite file opened for writing on a read-only file
system (outside a systemd unit's ``ReadWritePaths``) is refused before anything is read, with that
reason: SQLite itself would only say "attempt to write a readonly database" at the first write.
On MySQL/MariaDB a read-only database runs every
session as ``SET SESSION TRANSACTION READ ONLY``, so that a write by mistake fails instead of
happening.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from scrubctl.errors import ConfigError, DatabaseError, on_read_only_file_system, read_only_message
from scrubctl.glance.database import GlanceDatabase, normalize_url
from scrubctl.settings.secrets import Secret, redact_database_url

SUPPORTED_BACKENDS = ("mysql", "sqlite")
SUPPORTED = "scrubctl supports MySQL and MariaDB (mysql://) and SQLite (sqlite:///PATH)"
SERVER_NAMES = {"postgresql": "PostgreSQL", "oracle": "Oracle", "mssql": "Microsoft SQL Server"}


def open_database(
    url: Secret,
    *,
    pool_size: int = 5,
    read_only: bool = False,
    wsrep_sync_wait: int | None = None,
    timeout: float | None = None,
) -> GlanceDatabase:
    """Open (without connecting yet) the database at ``url``; read-only when ``read_only``
    (``wsrep_sync_wait`` and ``timeout``: see :class:`GlanceDatabase`).

    Raises :class:`ConfigError` for a database server scrubctl does not support and
    :class:`DatabaseError` for a SQLite file that does not exist.
    """
    raw = normalize_url(url.reveal())
    shown = redact_database_url(raw)
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"database URL {shown} is not a valid SQLAlchemy URL") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        server = SERVER_NAMES.get(backend, backend)
        raise ConfigError(f"database URL {shown}: {server} is not supported; {SUPPORTED}")
    if backend == "sqlite":
        raw = sqlite_uri(parsed, shown, read_only=read_only)
    database = GlanceDatabase(Secret(raw), pool_size=pool_size, wsrep_sync_wait=wsrep_sync_wait, timeout=timeout)
    database.shown_url = shown  # the URL as the operator wrote it, not the SQLite URI
    if read_only and database.is_mysql:
        event.listen(database.engine, "connect", _read_only_session)
    return database


def sqlite_uri(parsed: URL, shown: str, *, read_only: bool) -> str:
    """The SQLAlchemy URL that opens a SQLite file as an SQLite URI in ``ro`` or ``rw`` mode.

    In-memory databases and URLs that already are SQLite URIs (``?uri=true``) are left as they are.
    """
    database = parsed.database
    if not database or database == ":memory:" or "uri" in parsed.query:
        return parsed.render_as_string(hide_password=False)
    path = Path(database)
    if not path.exists():
        raise DatabaseError(f"no such database file: {path} (from {shown}); scrubctl never creates one")
    if not read_only:
        # SQLite writes its journal beside the file: the directory must be writable too.
        for target, subject in ((path, "the SQLite database"), (path.parent, "the directory of the SQLite database")):
            if on_read_only_file_system(target):
                raise DatabaseError(read_only_message(f"{subject} {target}"))
    mode = "ro" if read_only else "rw"
    uri = parsed.set(database="file:" + quote(str(path)), query={**parsed.query, "mode": mode, "uri": "true"})
    return uri.render_as_string(hide_password=False)


def _read_only_session(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
    finally:
        cursor.close()
