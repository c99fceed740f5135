"""The kinds of database server Glance's database may live on, behind one interface.

Everything scrubctl does differently from one server to another is a member of
:class:`~scrubctl.glance.servers.base.ServerKind`: the engine's options and session settings,
read-only sessions, the clock claims are dated with, creating a declared table (scrubctl's claims),
index inspection and hints, telling a lost race (run it again) from a server gone (never retried),
and whether several connections may read at once. Code elsewhere asks :func:`server_kind` for the
kind behind a connection, an engine or a URL, and never names a server itself.

Supported: SQLite (:mod:`.sqlite`) and MySQL/MariaDB, one server or a Galera node (:mod:`.mysql`,
with PyMySQL in :mod:`.pymysql_driver`). Anything else is refused in one line. PostgreSQL stays
refused: OpenStack can no longer be deployed on it (Neutron dropped it), and scrubctl's claims and
guarded updates were never run against its locking and conflict errors.

Adding a server is one new module here (a :class:`ServerKind` subclass, listed in :data:`KINDS`)
plus its test tier: ``tests/glance/test_servers.py`` and the database fixtures in ``tests/conftest.py``
run every database test on each kind.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from scrubctl.errors import ConfigError
from scrubctl.glance.servers.base import ServerKind
from scrubctl.glance.servers.mysql import MySQL
from scrubctl.glance.servers.sqlite import SQLite

KINDS: dict[str, ServerKind] = {kind.name: kind for kind in (MySQL(), SQLite())}
SUPPORTED = "scrubctl supports MySQL and MariaDB (mysql://) and SQLite (sqlite:///PATH)"
SERVER_NAMES = {"postgresql": "PostgreSQL", "oracle": "Oracle", "mssql": "Microsoft SQL Server"}


def server_kind(bind: Connection | Engine) -> ServerKind:
    """The kind of server behind a connection or an engine; raises :class:`ConfigError` (one line)
    for a server scrubctl does not support."""
    return kind_named(bind.dialect.name)


def kind_named(backend: str, shown_url: str | None = None) -> ServerKind:
    """The kind for an SQLAlchemy backend name (``make_url(url).get_backend_name()``); refused in
    one line, naming ``shown_url`` when given, when scrubctl does not support it."""
    kind = KINDS.get(backend)
    if kind is None:
        server = SERVER_NAMES.get(backend, backend)
        where = f"database URL {shown_url}" if shown_url is not None else "database server"
        raise ConfigError(f"{where}: {server} is not supported; {SUPPORTED}")
    return kind


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the database server is gone, hangs, or is not usable (for callers
    that hold an error but no connection: every kind is asked, each knows only its own errors)."""
    return any(kind.is_unreachable(error) for kind in KINDS.values())


def is_conflict(error: BaseException) -> bool:
    """Whether another transaction won (see :meth:`ServerKind.is_conflict`), whatever the server."""
    return any(kind.is_conflict(error) for kind in KINDS.values())


__all__ = ["KINDS", "SUPPORTED", "ServerKind", "is_conflict", "is_unreachable", "kind_named", "server_kind"]
