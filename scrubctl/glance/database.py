"""Connecting to Glance's database and proving it is one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy
from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from scrubctl.errors import ConfigError, DatabaseError
from scrubctl.glance.outage import Outage
from scrubctl.glance.outage import describe_db_error as describe_db_error  # its home before outage.py
from scrubctl.glance.schema import REQUIRED_TABLES, alembic_version
from scrubctl.glance.servers import kind_named, server_kind
from scrubctl.glance.servers.base import EngineRequest, ServerKind
from scrubctl.glance.servers.mysql import DEFAULT_TIMEOUT_SECONDS as DEFAULT_TIMEOUT_SECONDS
from scrubctl.glance.servers.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS as SQLITE_BUSY_TIMEOUT_SECONDS
from scrubctl.settings.secrets import Secret, redact_database_url


def normalize_url(url: str) -> str:
    """Use PyMySQL for every MySQL/MariaDB URL (oslo.db accepts ``mysql://`` and ``mysql+mysqldb://``)."""
    for prefix in ("mysql://", "mysql+mysqldb://", "mariadb://", "mariadb+mysqldb://"):
        if url.startswith(prefix):
            return "mysql+pymysql://" + url[len(prefix) :]
    return url


class GlanceDatabase:
    """Glance's database: an engine, its URL fit to print, and the kind of server it lives on."""

    def __init__(
        self,
        url: Secret,
        *,
        pool_size: int = 5,
        wsrep_sync_wait: int | None = None,
        timeout: float | None = None,
        read_only: bool = False,
    ) -> None:
        """``wsrep_sync_wait`` is oslo.db's ``[database] mysql_wsrep_sync_wait``: set on every MySQL
        session when given; otherwise causal reads on a Galera node.
        ``timeout`` (``[scrubctl] database_timeout``) bounds every read and write on a MySQL socket;
        without it the URL's ``read_timeout``/``write_timeout`` do, else :data:`DEFAULT_TIMEOUT_SECONDS`.
        ``read_only``: sessions that refuse writes, where the server has them (SQLite: the URL's
        ``mode=ro``, see :mod:`~scrubctl.glance.opening`).

        Raises :class:`ConfigError` for a URL scrubctl cannot use or a server it does not support."""
        raw = normalize_url(url.reveal())
        self.shown_url = redact_database_url(raw)
        try:
            parsed = make_url(raw)
        except ArgumentError:
            raise ConfigError(f"database URL {self.shown_url} is not a valid SQLAlchemy URL") from None
        self.kind: ServerKind = kind_named(parsed.get_backend_name(), self.shown_url)
        request = EngineRequest(self.shown_url, pool_size, timeout, wsrep_sync_wait, read_only)
        setup = self.kind.engine_setup(parsed, request)
        try:
            self.engine = sqlalchemy.create_engine(parsed, **setup.options)
        except (NoSuchModuleError, ImportError) as error:
            raise ConfigError(
                f"database URL {self.shown_url}: unsupported driver ({error.__class__.__name__})"
            ) from None
        except (ArgumentError, TypeError, ValueError):
            raise ConfigError(f"database URL {self.shown_url} has options scrubctl cannot use") from None
        self._outage = Outage(DEFAULT_TIMEOUT_SECONDS)
        self.kind.configure_engine(self.engine, setup, request, self._outage)
        self.timeout = setup.longest_wait

    @property
    def outage(self) -> str | None:
        """Why the server was given up on in this run (it stopped answering, or is gone), else ``None``."""
        return self._outage.message

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Open a connection, turning driver errors into one clear :class:`DatabaseError`."""
        if self.outage is not None:
            raise DatabaseError(f"database unreachable: {self.outage}")
        try:
            connection = self.engine.connect()
        except DBAPIError as error:
            raise DatabaseError(f"cannot connect to {self.shown_url}: {describe_db_error(error)}") from None
        try:
            yield connection
        finally:
            connection.close()

    def verify(self) -> str | None:
        """Connect and check this is a Glance database; return its alembic revision."""
        with self.connect() as connection:
            return verify_glance_schema(connection)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def verify_glance_schema(connection: Connection) -> str | None:
    """Check that every table and column scrubctl uses exists; return the alembic revision.

    Never refuses a revision it does not know: Glance releases from Train on share these columns.
    The fast path selects every declared column of every table (no rows); only when that fails is
    the catalogue read to name what is missing. Raises :class:`DatabaseError`.
    """
    try:
        for table in REQUIRED_TABLES:
            connection.execute(select(*table.columns).limit(0)).all()
        connection.rollback()
    except DBAPIError as error:
        connection.rollback()
        busy = server_kind(connection).busy_message(error)
        if busy is not None:  # (reading the catalogue would wait for the same lock as long again)
            raise DatabaseError(busy) from None
        _name_what_is_missing(connection)
        raise DatabaseError("not a Glance database scrubctl can use") from None
    try:
        revision: str | None = connection.execute(select(alembic_version.c.version_num)).scalar()
    except DBAPIError:
        connection.rollback()
        return None
    return revision


def _name_what_is_missing(connection: Connection) -> None:
    """Raise :class:`DatabaseError` naming the missing tables or columns."""
    try:
        inspector = sqlalchemy.inspect(connection)
        present = set(inspector.get_table_names())
        missing_tables = [table.name for table in REQUIRED_TABLES if table.name not in present]
        if missing_tables:
            raise DatabaseError("not a Glance database: missing table(s) " + ", ".join(missing_tables))
        missing_columns: list[str] = []
        for table in REQUIRED_TABLES:
            existing = {column["name"] for column in inspector.get_columns(table.name)}
            missing_columns += [
                f"{table.name}.{column.name}" for column in table.columns if column.name not in existing
            ]
        if missing_columns:
            raise DatabaseError(
                "not a Glance database scrubctl can use: missing column(s) " + ", ".join(missing_columns)
            )
    except DBAPIError as error:
        raise DatabaseError(f"cannot read the database's tables: {describe_db_error(error)}") from None
