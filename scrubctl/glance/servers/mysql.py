"""MySQL and MariaDB, one server or a node of a Galera cluster, through PyMySQL.

Sessions run in READ COMMITTED (every re-check sees what other scrubctl processes committed), with
causal reads on a Galera node, ``READ ONLY`` for commands that only read, and a bound on every socket
read and write (see :mod:`~scrubctl.glance.outage`). The server's own UTC clock dates claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, Table, event, func, text
from sqlalchemy.dialects.mysql import DATETIME
from sqlalchemy.engine import URL
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from scrubctl.errors import ConfigError
from scrubctl.glance.servers import pymysql_driver
from scrubctl.glance.servers.base import ConnectionWatch, EngineRequest, EngineSetup, SelectT, ServerKind

CONNECT_TIMEOUT_SECONDS = 10
# No single read or write on a MySQL socket waits longer (``[scrubctl] database_timeout``, else the
# URL's ``read_timeout``/``write_timeout``, else this): a node that hangs (rather than dies) ends the
# run with "unreachable" after one such wait (see :mod:`~scrubctl.glance.outage`) instead of holding
# a timer forever. Causal reads wait at most wsrep_causal_read_timeout (Galera's default: 30 s).
DEFAULT_TIMEOUT_SECONDS = 60
SOCKET_TIMEOUTS = ("read_timeout", "write_timeout")

DEADLOCK = 1213  # also Galera's certification failure ("WSREP detected deadlock/conflict")
LOCK_WAIT_TIMEOUT = 1205
RECORD_CHANGED = 1020  # "Record has changed since last read"
CONFLICT_CODES = frozenset({DEADLOCK, LOCK_WAIT_TIMEOUT, RECORD_CHANGED})
DUPLICATE_KEY = 1062
# 1047: a Galera node outside the primary component; 2002/2003: cannot connect;
# 2006/2013/2055: the connection was lost (2013 too when a read timed out).
UNREACHABLE_CODES = frozenset({1047, 2002, 2003, 2006, 2013, 2055})
CANNOT_CONNECT = 2003
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_default_charset": "utf8mb4"}


class MySQL(ServerKind):
    """A Glance database on MySQL or MariaDB (one server or a Galera node)."""

    name = "mysql"
    local_file = False
    parallel_reads = True
    clustered = True
    create_refused = "the database user needs CREATE there"

    def engine_setup(self, parsed: URL, request: EngineRequest) -> EngineSetup:
        """READ COMMITTED, a pool of ``pool_size`` (as many again on demand), no reset by the pool
        (``outage`` resets returned connections), utf8mb4, and socket timeouts."""
        timeouts = socket_timeouts(parsed.query, request.shown_url, request.timeout)
        longest = max(timeouts.values())
        connect_args: dict[str, Any] = {"charset": "utf8mb4", "conv": pymysql_driver.conversions(), **timeouts}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = min(CONNECT_TIMEOUT_SECONDS, max(1, round(longest)))
        options = {
            "isolation_level": "READ COMMITTED",
            "pool_pre_ping": True,
            "pool_reset_on_return": None,
            "pool_size": request.pool_size,
            "max_overflow": request.pool_size,
            "connect_args": connect_args,
        }
        return EngineSetup(options=options, longest_wait=longest)

    def configure_engine(
        self, engine: Engine, setup: EngineSetup, request: EngineRequest, outage: ConnectionWatch
    ) -> None:
        """``outage`` watches the engine (PyMySQL connections tracked from their handshake on);
        causal reads on Galera; ``READ ONLY`` sessions when asked."""
        outage.timeout = setup.longest_wait
        outage.watch(engine, self)
        if engine.dialect.driver == "pymysql":
            event.listen(engine, "do_connect", pymysql_driver.connector(outage))
        event.listen(engine, "connect", pymysql_driver.causal_reads(request.wsrep_sync_wait))
        if request.read_only:
            event.listen(engine, "connect", pymysql_driver.read_only_session)

    def clock(self, seconds_ahead: float = 0.0) -> ColumnElement[datetime]:
        """``UTC_TIMESTAMP(6)``, moved ``seconds_ahead`` (one clock for every controller)."""
        if not seconds_ahead:
            return func.utc_timestamp(6, type_=DateTime)
        return func.date_add(func.utc_timestamp(6), text(_interval(seconds_ahead)), type_=DateTime)

    def clock_text(self, moments: Mapping[str, float]) -> tuple[dict[str, str], dict[str, object]]:
        """The same as :meth:`clock`, written out (no bound value; one statement reads one time)."""
        texts = {
            name: f"DATE_ADD(UTC_TIMESTAMP(6), {_interval(ahead)})" if ahead else "UTC_TIMESTAMP(6)"
            for name, ahead in moments.items()
        }
        return texts, {}

    def create_table(self, connection: Connection, table: Table) -> None:
        """One ``CREATE TABLE IF NOT EXISTS`` of the declared table with microsecond ``DATETIME(6)``
        columns, InnoDB and utf8mb4, its indexes inline (which needs the CREATE privilege only,
        where a ``CREATE INDEX`` would need INDEX too)."""
        made = table.to_metadata(MetaData())
        for column in made.columns:
            if isinstance(column.type, DateTime):
                column.type = DATETIME(fsp=6)
        for option, value in TABLE_OPTIONS.items():
            made.dialect_kwargs[option] = value
        quote = connection.dialect.identifier_preparer.quote
        keys = [
            f"KEY {quote(str(index.name))} ({', '.join(quote(column.name) for column in index.columns)})"
            for index in sorted(made.indexes, key=lambda index: str(index.name))
        ]
        statement = str(CreateTable(made, if_not_exists=True).compile(dialect=connection.dialect))
        columns, closing, options = statement.rpartition("\n)")
        connection.exec_driver_sql("".join((columns, *(f",\n\t{key}" for key in keys), closing, options)))

    def has_index(self, connection: Connection, table: str, index: str) -> bool:
        """``SHOW INDEX`` (cheaper than reflecting the table)."""
        rows = connection.exec_driver_sql(f"SHOW INDEX FROM `{table}`").mappings()
        return any(row["Key_name"] == index for row in rows)

    def with_index_hint(self, connection: Connection, statement: SelectT, table: FromClause, index: str) -> SelectT:
        """``FORCE INDEX (index)`` on ``table`` when the index exists."""
        if not self.has_index(connection, str(getattr(table, "name", "")), index):
            return statement
        return statement.with_hint(table, f"FORCE INDEX ({index})", dialect_name=self.name)

    def error_code(self, error: BaseException) -> int | None:
        """The MySQL/MariaDB error number (the driver error's first argument)."""
        original = getattr(error, "orig", error)
        args = getattr(original, "args", ())
        return args[0] if args and isinstance(args[0], int) else None

    def is_conflict(self, error: BaseException) -> bool:
        """A deadlock, Galera's failed certification (1213, or 1020), or a lock wait timeout."""
        return self.error_code(error) in CONFLICT_CODES

    def is_duplicate_key(self, error: BaseException) -> bool:
        """Error 1062."""
        return self.error_code(error) == DUPLICATE_KEY

    def is_unreachable(self, error: BaseException) -> bool:
        """A lost or refused connection, a timed-out read, a Galera node outside the primary component."""
        return super().is_unreachable(error) or self.error_code(error) in UNREACHABLE_CODES


def _interval(seconds: float) -> str:
    return f"INTERVAL {int(seconds * 1_000_000)} MICROSECOND"


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
