"""PyMySQL's connections as scrubctl makes them: shut down at once in an outage, one TLS context per
process, a fast DATETIME parser, causal reads on Galera, read-only sessions (see :mod:`.mysql`)."""

from __future__ import annotations

import functools
import ssl
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrubctl.glance.servers.base import ConnectionWatch

GALERA_DEFAULT_SYNC_WAIT = 1  # causal reads: SELECTs wait for every write certified before them


def connector(outage: ConnectionWatch) -> Any:
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


def causal_reads(configured: int | None) -> Any:
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


def read_only_session(dbapi_connection: Any, _record: Any) -> None:
    """A connect hook: every transaction of the session is ``READ ONLY`` (a write by mistake fails)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
    finally:
        cursor.close()


def conversions() -> dict[Any, Any]:
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

    table = dict(converters.conversions)
    table[FIELD_TYPE.DATETIME] = convert_datetime
    table[FIELD_TYPE.TIMESTAMP] = convert_datetime
    return table
