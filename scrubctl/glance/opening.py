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
happening. Each kind's part of this lives in :mod:`scrubctl.glance.servers`.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scrubctl.errors import ConfigError
from scrubctl.glance.database import GlanceDatabase, normalize_url
from scrubctl.glance.servers import kind_named
from scrubctl.settings.secrets import Secret, redact_database_url


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
    kind = kind_named(parsed.get_backend_name(), shown)
    opened = kind.opening_url(parsed, shown, read_only=read_only)
    database = GlanceDatabase(
        Secret(opened), pool_size=pool_size, wsrep_sync_wait=wsrep_sync_wait, timeout=timeout, read_only=read_only
    )
    database.shown_url = shown  # the URL as the operator wrote it, not the SQLite URI
    return database
