"""Connecting to Glance's database and proving it is one."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import sqlalchemy
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from scrubctl.errors import ConfigError, DatabaseError
from scrubctl.glance.outage import Outage
from scrubctl.glance.outage import describe_db_error as describe_db_error  # its home before outage.py
from scrubctl.glance.schema import REQUIRED_TABLES, alembic_version
from scrubctl.glance.sqlite_waits import LockWaitWatch
from scrubctl.settings.secrets import Secret, redact_database_url

CONNECT_TIMEOUT_SECONDS = 10
# No single read or write on a MySQL socket waits longer (``[scrubctl] database_timeout``, else the
# URL's ``read_timeout``/``write_timeout``, else this): a node that hangs (rather than dies) ends the
# run with "unreachable" after one such wait (see :mod:`~scrubctl.glance.outage`) instead of holding
# a timer forever. Causal reads wait at most wsrep_causal_read_timeout (Galera's default: 30 s).
DEFAULT_TIMEOUT_SECONDS = 60
SOCKET_TIMEOUTS = ("read_timeout", "write_timeout")
# How long one SQLite statement waits for a lock another process holds before it fails ("database
# is locked", exit 3); after NOTICE_SECONDS of waiting a warning names the file (see sqlite_waits).
SQLITE_BUSY_TIMEOUT_SECONDS = 60
GALERA_DEFAULT_SYNC_WAIT = 1  # causal reads: SELECTs wait for every write certified before them


def normalize_url(url: str) -> str:
    """Use PyMySQL for every MySQL/MariaDB URL (oslo.db accepts ``mysql://`` and ``mysql+mysqldb://``)."""
    for prefix in ("mysql://", "mysql+mysqldb://", "mariadb://", "mariadb+mysqldb://"):
        if url.startswith(prefix):
            return "mysql+pymysql://" + url[len(prefix) :]
    return url


class GlanceDatabase:
    """Glance's database: an engine, its URL fit to print, and what its dialect can do."""

    def __init__(
        self,
        url: Secret,
        *,
        pool_size: int = 5,
        wsrep_sync_wait: int | None = None,
        timeout: float | None = None,
    ) -> None:
        """``wsrep_sync_wait`` is oslo.db's ``[database] mysql_wsrep_sync_wait``: set on every MySQL
        session when given; otherwise :data:`GALERA_DEFAULT_SYNC_WAIT` on a Galera node.
        ``timeout`` (``[scrubctl] database_timeout``) bounds every read and write on a MySQL socket;
        without it the URL's ``read_timeout``/``write_timeout`` do, else :data:`DEFAULT_TIMEOUT_SECONDS`."""
        raw = normalize_url(url.reveal())
        self.shown_url = redact_database_url(raw)
        self._outage = Outage(DEFAULT_TIMEOUT_SECONDS)
        self.engine, self.timeout = _create_engine(raw, self.shown_url, pool_size, timeout, self._outage)
        self.is_mysql = self.engine.dialect.name == "mysql"
        if self.is_mysql:
            event.listen(self.engine, "connect", _causal_reads(wsrep_sync_wait))

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


def _create_engine(raw: str, shown: str, pool_size: int, timeout: float | None, outage: Outage) -> tuple[Engine, float]:
    """The engine and the longest a socket read or write waits (see :func:`socket_timeouts`).

    MySQL/MariaDB sessions run in READ COMMITTED so that every re-check sees what other scrubctl
    processes committed; ``outage`` watches the engine and resets the connections returned to the
    pool (no ``ROLLBACK`` once the server is given up on). SQLite waits for the write lock instead
    of failing at once."""
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"database URL {shown} is not a valid SQLAlchemy URL") from None
    options: dict[str, Any] = {}
    longest = float(SQLITE_BUSY_TIMEOUT_SECONDS)
    if parsed.get_backend_name() == "mysql":
        timeouts = socket_timeouts(parsed.query, shown, timeout)
        longest = max(timeouts.values())
        connect_args: dict[str, Any] = {"charset": "utf8mb4", "conv": _pymysql_conversions(), **timeouts}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = min(CONNECT_TIMEOUT_SECONDS, max(1, round(longest)))
        options.update(
            isolation_level="READ COMMITTED",
            pool_pre_ping=True,
            pool_reset_on_return=None,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args=connect_args,
        )
    elif parsed.get_backend_name() == "sqlite":
        watch = LockWaitWatch(_sqlite_file(parsed), SQLITE_BUSY_TIMEOUT_SECONDS)
        options.update(connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "factory": watch.connection_class()})
    try:
        engine = sqlalchemy.create_engine(parsed, **options)
    except (NoSuchModuleError, ImportError) as error:
        raise ConfigError(f"database URL {shown}: unsupported driver ({error.__class__.__name__})") from None
    except (ArgumentError, TypeError, ValueError):
        raise ConfigError(f"database URL {shown} has options scrubctl cannot use") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    elif parsed.get_backend_name() == "mysql":
        outage.timeout = longest
        outage.watch(engine)
        if parsed.get_driver_name() == "pymysql":
            event.listen(engine, "do_connect", _pymysql_connector(outage))
    return engine, longest


def _sqlite_file(parsed: URL) -> str:
    """The SQLite database file a URL names (also through an SQLite URI, ``file:PATH?mode=ro``)."""
    database = parsed.database or ":memory:"
    if database.startswith("file:"):
        return unquote(database[len("file:") :].partition("?")[0])
    return database


def socket_timeouts(query: Mapping[str, Any], shown: str, configured: float | None) -> dict[str, float]:
    """PyMySQL's ``read_timeout`` and ``write_timeout``: ``configured`` (``[scrubctl]
    database_timeout``) for both when set; else each as the URL's query gives it (oslo.db passes
    them through to the driver), else :data:`DEFAULT_TIMEOUT_SECONDS`."""
    timeouts: dict[str, float] = {}
    for name in SOCKET_TIMEOUTS:
        value: Any = query.get(name) if configured is None else configured
        if value is None:
            timeouts[name] = DEFAULT_TIMEOUT_SECONDS
            continue
        try:
            seconds = float(value if isinstance(value, (int, float)) else str(value))
        except ValueError:
            seconds = 0.0
        if not seconds > 0:
            raise ConfigError(f"database URL {shown}: {name} must be a positive number of seconds")
        timeouts[name] = seconds
    return timeouts


def _pymysql_connector(outage: Outage) -> Any:
    """A ``do_connect`` hook: open a PyMySQL connection (see :func:`_connection_class`), which
    ``outage`` can shut down from its handshake on."""

    def connect(_dialect: Any, _record: Any, args: Any, keywords: Any) -> Any:
        connection = _connection_class()(*args, **keywords, defer_connect=True)
        outage.track(connection)
        connection.connect()
        return connection

    return connect


@functools.cache
def _connection_class() -> Any:
    """PyMySQL's connection, with the TLS context of its "preferred" mode (no TLS option given: TLS
    when the server offers it, its certificate not verified) made once per process and without the
    system's CA certificates, which that mode never uses: PyMySQL makes one for every connection,
    loading them each time (~20 ms of CPU), even for a server that offers no TLS."""
    from pymysql.connections import Connection as PyMySQLConnection

    class SharedTlsContextConnection(PyMySQLConnection):
        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp != {}:  # TLS options given: PyMySQL's own handling
                return super()._create_ssl_ctx(sslp)  # type: ignore[misc]
            return _preferred_tls()

    return SharedTlsContextConnection


@functools.cache
def _preferred_tls() -> ssl.SSLContext:
    """What PyMySQL's "preferred" mode makes: encryption, no verification (``CERT_NONE``, no host
    name check), no SSLv2 or SSLv3."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.options |= ssl.OP_NO_SSLv2 | ssl.OP_NO_SSLv3
    return context


def _causal_reads(configured: int | None) -> Any:
    """A connect hook: ``SET SESSION wsrep_sync_wait`` on Galera nodes (or wherever the operator set it)."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            value = configured
            if value is None:
                cursor.execute("SHOW VARIABLES LIKE 'wsrep_on'")
                row = cursor.fetchone()
                if row is not None and str(row[1]).upper() == "ON":
                    value = GALERA_DEFAULT_SYNC_WAIT
            if value is not None:
                cursor.execute(f"SET SESSION wsrep_sync_wait = {int(value)}")
        finally:
            cursor.close()

    return on_connect


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so that write batches can BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")


def _sqlite_on_begin(connection: Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get("sqlite_write") else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


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
        if connection.dialect.name == "sqlite" and "database is locked" in str(error.orig):
            # (reading the catalogue would wait for the same lock as long again)
            raise DatabaseError(
                f"the SQLite database is locked by another process (waited {SQLITE_BUSY_TIMEOUT_SECONDS} s); "
                "try again once it is done"
            ) from None
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


def _pymysql_conversions() -> dict[Any, Any]:
    """PyMySQL's converters with a C-speed DATETIME parser (PyMySQL's own is a regular expression and
    several ``int()`` calls, a fifth of list-pending's time on a large cloud); whatever
    ``datetime.fromisoformat`` refuses (zero dates) still goes to PyMySQL's."""
    from pymysql import converters
    from pymysql.constants import FIELD_TYPE

    parse = datetime.fromisoformat
    fallback = converters.convert_datetime

    def convert_datetime(value: str | bytes) -> Any:
        try:
            return parse(value.decode("ascii") if isinstance(value, bytes) else value)
        except ValueError:
            return fallback(value)

    conversions = dict(converters.conversions)
    conversions[FIELD_TYPE.DATETIME] = convert_datetime
    conversions[FIELD_TYPE.TIMESTAMP] = convert_datetime
    return conversions


def has_index(connection: Connection, table: str, index: str) -> bool:
    """Tell whether ``table`` has an index named ``index`` (MySQL/MariaDB; used before a hint)."""
    rows = connection.exec_driver_sql(f"SHOW INDEX FROM `{table}`").mappings()
    return any(row["Key_name"] == index for row in rows)
