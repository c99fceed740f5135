"""Giving up on a database server that stopped answering: once per run, and at once everywhere.

A server that hangs rather than dies (a frozen VM, a stalled disk, a network black hole) keeps its
TCP connections open, so every statement sent to it waits out the socket timeout, one after the
other: the worker's, the claims' renewal and release, the pool's ``ROLLBACK`` when a connection is
returned. :class:`Outage` watches a MySQL/MariaDB engine: the first call that times out or finds the
server gone (a lost connection, a refused connection, a Galera node outside the primary component)
declares the outage, and from then on

- every other open connection of the engine is shut down, so that statements waiting on the server
  fail at once instead of each waiting out its own timeout;
- no new connection is made (one would wait for the handshake);
- a transaction is not rolled back, nor a connection given back to the pool reset (each
  ``ROLLBACK`` would wait too, or fail): the connection is dropped instead.

So a run spends one socket timeout, not one per statement in flight, and callers tell an outage
from any other database error with :func:`is_unreachable`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from scrubctl.glance.servers import is_unreachable as is_unreachable  # its home before servers/
from scrubctl.glance.servers.base import ServerKind
from scrubctl.glance.servers.mysql import CANNOT_CONNECT


def timed_out(error: BaseException) -> bool:
    """Whether a socket timeout is behind ``error`` (the driver raises its own error from it)."""
    seen: BaseException | None = getattr(error, "orig", None) or error
    for _depth in range(8):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError) or "timed out" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe_db_error(error: SQLAlchemyError | BaseException) -> str:
    """Describe a database error in one line, without the SQL or the parameters."""
    return _driver_detail(getattr(error, "orig", None)) or error.__class__.__name__


def _driver_detail(original: BaseException | None) -> str | None:
    """The message of a driver's error (its last argument, the first being the error number)."""
    args = getattr(original, "args", None)
    if not args:
        return None
    detail = args[-1] if len(args) > 1 else args[0]
    return str(detail).splitlines()[0]


class Outage:
    """Whether a MySQL/MariaDB engine's server was given up on in this run, and why."""

    def __init__(self, timeout: float) -> None:
        """``timeout``: the socket timeout of the engine's connections (named in the message)."""
        self.timeout = timeout
        self._lock = threading.Lock()
        self._message: str | None = None
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._kind: ServerKind | None = None

    @property
    def message(self) -> str | None:
        """Why the server was given up on (one line), or ``None`` while it answers."""
        return self._message

    def watch(self, engine: Engine, kind: ServerKind) -> None:
        """Follow ``engine``'s errors (told apart by ``kind``) and refuse its new connections once
        the server is given up on. The engine must be made with ``pool_reset_on_return=None``
        (connections returned to the pool are reset here instead), and its driver's connections
        handed to :meth:`track`."""
        self._kind = kind
        event.listen(engine, "do_connect", self._refuse, insert=True)
        event.listen(engine, "handle_error", self._on_error)
        event.listen(engine, "rollback", self._on_rollback)
        event.listen(engine, "reset", self._reset)

    def track(self, dbapi_connection: Any) -> None:
        """Shut ``dbapi_connection`` down too when the server is given up on (call it before the
        connection's handshake, which can hang as well)."""
        with self._lock:
            self._connections.add(dbapi_connection)

    def declare(self, message: str) -> None:
        """Give the server up (the first message is kept) and shut every open connection down."""
        with self._lock:
            if self._message is None:
                self._message = message
            connections = list(self._connections)
        for connection in connections:
            _shut_down(connection)

    def consider(self, error: BaseException) -> None:
        """Declare the outage when ``error`` says the server is gone or did not answer in time."""
        unreachable = self._kind.is_unreachable(error) if self._kind is not None else is_unreachable(error)
        if self._message is None and unreachable:
            detail = _driver_detail(getattr(error, "orig", error)) or error.__class__.__name__
            if timed_out(error):
                detail = f"no answer within {self.timeout:g} s ({detail})"
            self.declare(detail)

    # --- engine events ----------------------------------------------------------------------------

    def _refuse(self, _dialect: Any, _record: Any, _args: Any, _keywords: Any) -> None:
        if self._message is not None:
            from pymysql.err import OperationalError

            raise OperationalError(CANNOT_CONNECT, f"not connecting again: {self._message}")

    def _on_error(self, context: ExceptionContext) -> None:
        error = context.original_exception
        if context.is_pre_ping and not timed_out(error):
            return  # a pooled connection the server closed while idle: the pool makes a new one
        self.consider(error)

    def _on_rollback(self, connection: Connection) -> None:
        if self._message is not None and not connection.invalidated:
            connection.invalidate()  # closed without its ROLLBACK, which would fail

    def _reset(self, dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState) -> None:
        """What the pool's rollback-on-return does, except once the server is given up on."""
        if self._message is not None or state.transaction_was_reset or not state.asyncio_safe:
            return
        try:
            dbapi_connection.rollback()
        except Exception as error:  # noqa: BLE001 - the connection is dropped (an outage, if it is one)
            self.consider(error)
            record.invalidate(error)


def _shut_down(dbapi_connection: Any) -> None:
    """Shut a PyMySQL connection's socket down (PyMySQL keeps it in ``_sock``): a thread blocked
    reading from it gets end-of-file at once, and later statements fail at once."""
    sock = getattr(dbapi_connection, "_sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already closed
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's method, also under TLS
