"""What every kind of database server tells scrubctl: the interface of :mod:`scrubctl.glance.servers`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

import sqlalchemy
from sqlalchemy import Connection, Engine, Select, Table
from sqlalchemy.engine import URL
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

SelectT = TypeVar("SelectT", bound=Select[Any])


class ConnectionWatch(Protocol):
    """What watches an engine's connections for a server that stops answering (implemented by
    :class:`scrubctl.glance.outage.Outage`; declared here so that the server kinds need not import it)."""

    timeout: float

    def watch(self, engine: Engine, kind: ServerKind) -> None:
        """Watch ``engine``'s errors, classified by ``kind``."""
        ...

    def track(self, connection: Any) -> None:
        """Track a DB-API connection from its handshake on, to shut it down in an outage."""
        ...


@dataclass
class EngineSetup:
    """What creating an engine for one database needs: the options for :func:`sqlalchemy.create_engine`
    and the longest a single read or write on a connection may wait (seconds)."""

    options: dict[str, Any] = field(default_factory=dict)
    longest_wait: float = 60.0


@dataclass(frozen=True)
class EngineRequest:
    """What the operator asked of an engine: the URL fit to print, pool size, socket timeout
    (``[scrubctl] database_timeout``), Galera's causal reads, and read-only sessions."""

    shown_url: str
    pool_size: int = 5
    timeout: float | None = None
    wsrep_sync_wait: int | None = None
    read_only: bool = False


class ServerKind(ABC):
    """One kind of database server (an SQLAlchemy backend): everything scrubctl does differently on it."""

    name: ClassVar[str]
    """The SQLAlchemy backend name (``make_url(url).get_backend_name()``, ``dialect.name``)."""
    local_file: ClassVar[bool]
    """The database is a file on this machine: what may be written is the file's and its directory's
    permissions (no accounts, no grants), and the only clock is this machine's."""
    parallel_reads: ClassVar[bool]
    """Several connections may read at once, each in a consistent snapshot of its own (orphans' scans)."""
    clustered: ClassVar[bool]
    """A node of a cluster (Galera) may stand behind it, whose state ``check`` reads."""
    create_refused: ClassVar[str]
    """What a refused ``CREATE TABLE`` asks of the operator."""

    # --- opening -----------------------------------------------------------------------------------

    def opening_url(self, parsed: URL, shown: str, *, read_only: bool) -> str:
        """The URL a command opens (``read_only``: a command that only reads); raises
        :class:`~scrubctl.errors.DatabaseError` for a database that must not be created."""
        return parsed.render_as_string(hide_password=False)

    @abstractmethod
    def engine_setup(self, parsed: URL, request: EngineRequest) -> EngineSetup:
        """The engine options for ``parsed`` (raises :class:`~scrubctl.errors.ConfigError` for bad ones)."""

    @abstractmethod
    def configure_engine(
        self, engine: Engine, setup: EngineSetup, request: EngineRequest, outage: ConnectionWatch
    ) -> None:
        """Hook the new ``engine`` up: session settings, read-only sessions, ``outage`` watching it."""

    # --- the server's clock -----------------------------------------------------------------------

    @abstractmethod
    def clock(self, seconds_ahead: float = 0.0) -> ColumnElement[datetime]:
        """The moment ``seconds_ahead`` from now (UTC) as the server sees it, as an SQL expression."""

    @abstractmethod
    def clock_text(self, moments: Mapping[str, float]) -> tuple[dict[str, str], dict[str, object]]:
        """:meth:`clock` written out as SQL text, for each name in ``moments`` that many seconds
        ahead of one reading of the clock, and the bound values the texts need (named from ``moments``)."""

    # --- schema -----------------------------------------------------------------------------------

    @abstractmethod
    def create_table(self, connection: Connection, table: Table) -> None:
        """Create ``table`` and its indexes, as declared, unless it exists (the caller commits)."""

    def has_index(self, connection: Connection, table: str, index: str) -> bool:
        """Whether ``table`` has an index named ``index``."""
        return any(found["name"] == index for found in sqlalchemy.inspect(connection).get_indexes(table))

    def with_index_hint(self, connection: Connection, statement: SelectT, table: FromClause, index: str) -> SelectT:
        """``statement`` told to read ``table`` through ``index`` where the server takes such a hint
        and the index exists; else as it is."""
        return statement

    # --- errors -----------------------------------------------------------------------------------

    def error_code(self, error: BaseException) -> int | None:
        """The server's error number behind a driver error, if it has one."""
        return None

    def is_conflict(self, error: BaseException) -> bool:
        """Whether another transaction won (a deadlock, a failed certification, a lock wait): run it again."""
        return False

    def is_duplicate_key(self, error: BaseException) -> bool:
        """Whether another writer inserted the same primary key first."""
        return False

    def is_unreachable(self, error: BaseException) -> bool:
        """Whether the server is gone, hangs, or may not be used (never retried)."""
        return bool(getattr(error, "connection_invalidated", False))

    def busy_message(self, error: BaseException) -> str | None:
        """A one-line reason when ``error`` is a lock another process held too long, else ``None``."""
        return None
