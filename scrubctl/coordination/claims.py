"""Claims: which scrubctl run may erase or revive an image's data right now, cluster-wide.

Every run that erases or brings back data (``scrub``, ``restore``) first claims the images in a
table of scrubctl's own in Glance's database, ``scrubctl_claims`` (one row per claimed image:
``subject`` = the image id, the ``holder`` = ``host:pid:random``, what for, when, and until when).
A claim is an INSERT of that row; it counts only once its COMMIT succeeded. On a Galera cluster two
nodes inserting the same row both succeed locally and the second COMMIT fails certification (1213);
on one server the second INSERT waits for the first and fails with a duplicate key; either way the
loser re-reads the table (causal reads) and leaves the image to the winner. Named locks and row locks
are never relied on: they are node-local on Galera.

Claims expire (``[scrubctl] claim_timeout``, default :data:`DEFAULT_TIMEOUT_SECONDS`): a process
killed with SIGKILL, or a controller that lost power, blocks its images for at most that long; the
next run deletes the expired row (only if it is still expired) and takes the image. A live holder
renews all its claims every ``timeout / 6`` from a heartbeat thread with its own connection, so an
erase that takes minutes keeps its claim. A destructive call starts only while the holder's claim
is known to be valid for at least half the timeout more (:meth:`ClaimSession.may_erase`), so a
heartbeat that can no longer reach the database stops erasing well before another run could take
over. Glance never reads this table; ``glance-manage db sync``/``check``/``purge`` leave it alone.

The table is created by the first claim ever taken (looked for first, see
:func:`ensure_claims_table`), not when a run starts: a run that stops before it claims anything (a
dry run, nothing to do, a metrics file that cannot be written, a configuration error) leaves Glance's
database as it found it. Stores are contacted only under a claim, so a run whose store turns out
unreachable has claimed (and released) its first images, and made the table, by then.

Dry runs take no claims: they erase and write nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    TextClause,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError

from scrubctl.coordination.conflicts import ConflictLostError, RetryPolicy, run_transaction
from scrubctl.errors import DatabaseError
from scrubctl.glance.database import describe_db_error
from scrubctl.glance.servers import is_unreachable, server_kind
from scrubctl.settings.config import DEFAULT_CLAIM_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

T = TypeVar("T")

TABLE_NAME = "scrubctl_claims"
DEFAULT_TIMEOUT_SECONDS = DEFAULT_CLAIM_TIMEOUT_SECONDS
POLL_SECONDS = 0.2  # between attempts of a claim that waits (restore)
CLAIM_POLICY = RetryPolicy(attempts=20, first_wait=0.005, longest_wait=0.5)

# Created from this declaration by the server's kind (scrubctl.glance.servers: on MySQL/MariaDB the
# times keep microseconds, the table is InnoDB in utf8mb4), the first time a claim is taken.
claims_table = Table(
    TABLE_NAME,
    MetaData(),
    Column("subject", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("claimed_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Index(f"ix_{TABLE_NAME}_holder", "holder"),
    comment="scrubctl: images held by running scrubctl processes",
)


def new_holder() -> str:
    """A name for this process's claims that an operator can trace: ``host:pid:random``."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


def ensure_claims_table(connection: Connection) -> None:
    """Create ``scrubctl_claims`` as :data:`claims_table` declares it, when it does not exist yet
    (outside any transaction).

    The table is looked for first: a ``CREATE TABLE IF NOT EXISTS`` on every run would be DDL on
    every run, which a Galera cluster applies in total order on every node."""
    if claims_table_exists(connection):
        return
    kind = server_kind(connection)
    try:
        kind.create_table(connection, claims_table)
        connection.commit()
    except DBAPIError as error:
        connection.rollback()
        raise DatabaseError(
            f"cannot create scrubctl's claims table {TABLE_NAME} in the Glance database ({kind.create_refused}): "
            f"{describe_db_error(error)}"
        ) from None


def claims_table_exists(connection: Connection) -> bool:
    """Whether ``scrubctl_claims`` exists with every column scrubctl uses (a read of no rows)."""
    try:
        connection.execute(select(*claims_table.columns).limit(0)).all()
    except DBAPIError:
        connection.rollback()
        return False
    connection.rollback()
    return True


class ClaimSession:
    """One run's claims: taking, renewing (a heartbeat thread), checking and releasing them."""

    def __init__(
        self,
        engine: Engine,
        *,
        purpose: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        holder: str | None = None,
    ) -> None:
        """Claims in ``engine``'s database; the heartbeat uses a connection of its own."""
        self._engine = engine
        self._kind = server_kind(engine)
        self.purpose = purpose
        self.timeout = float(timeout_seconds)
        self.holder = holder or new_holder()
        self._lock = threading.Lock()
        self._taken_at: dict[str, float] = {}
        self._renewed_at = 0.0
        self._stopped = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._inserts: dict[tuple[str, str, int], TextClause] = {}
        self._table_lock = threading.Lock()
        self._table_ready = False
        self._table_error: DatabaseError | None = None

    # --- life cycle -------------------------------------------------------------------------------

    def start(self) -> ClaimSession:
        """Start the heartbeat (the claims table is made at the first claim, see :meth:`_ensure_table`)."""
        self._heartbeat = threading.Thread(target=self._beat, name="scrubctl-claims-heartbeat", daemon=True)
        self._heartbeat.start()
        return self

    def _ensure_table(self) -> None:
        """Make sure the claims table exists, once per session, on a connection of its own (DDL
        outside any transaction); a failure is raised again for every later claim, not retried."""
        with self._table_lock:
            if self._table_ready:
                return
            if self._table_error is not None:
                raise self._table_error
            try:
                with self._engine.connect() as connection:
                    ensure_claims_table(connection)
            except DBAPIError as error:
                self._table_error = DatabaseError(
                    f"cannot reach the database to take claims: {describe_db_error(error)}"
                )
            except DatabaseError as error:
                self._table_error = error
            if self._table_error is not None:
                raise self._table_error
            self._table_ready = True

    def close(self) -> None:
        """Stop the heartbeat and release every claim still held (best effort: unreleased ones expire)."""
        self._stopped.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        with self._lock:
            remaining = list(self._taken_at)
        if remaining:
            try:
                with self._engine.connect() as connection:
                    self.release(connection, remaining)
            except Exception as error:  # noqa: BLE001 - the claims expire by themselves
                _not_released(len(remaining), error)

    def __enter__(self) -> ClaimSession:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- claims -----------------------------------------------------------------------------------

    def take(self, connection: Connection, subjects: Sequence[str]) -> set[str]:
        """Claim ``subjects``; return those this run now holds (committed). Others' claims are left alone.

        Raises :class:`ConflictLostError` only if every attempt lost a race for the same rows.
        """
        taken, _ = self.take_and_read(connection, subjects, lambda _connection, _taken: None)
        return taken

    def take_and_read(
        self,
        connection: Connection,
        subjects: Sequence[str],
        read: Callable[[Connection, set[str]], T],
        narrow: Callable[[Connection, list[str]], list[str]] | None = None,
    ) -> tuple[set[str], T]:
        """Claim ``subjects`` and, in the same transaction after the claim rows are written, ``read``
        the state of those taken; return both once committed. ``narrow``, when given, first drops
        the subjects with nothing left to do (so that runs on other controllers, which finished them,
        cost a read instead of a claim written and deleted).

        What ``read`` saw holds for as long as the claims do: a run that changed those rows held
        their claims, and its claim rows conflict with these (a duplicate key on one server, a
        failed certification on Galera), so this transaction commits only if that run was done
        before the read.
        """
        wanted = list(dict.fromkeys(subjects))
        if wanted:
            self._ensure_table()
        started = time.monotonic()

        def attempt(current: Connection) -> tuple[list[str], T]:
            candidates = narrow(current, wanted) if narrow is not None and wanted else wanted
            free = self._take_once(current, candidates) if candidates else []
            return free, read(current, set(free))

        taken, state = run_transaction(connection, attempt, policy=CLAIM_POLICY, retry_duplicate_key=True, what="claim")
        with self._lock:
            for subject in taken:
                self._taken_at[subject] = started
        return set(taken), state

    def take_waiting(self, connection: Connection, subject: str, wait_seconds: float) -> bool:
        """Claim one subject, waiting up to ``wait_seconds`` for another run to let it go."""
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                if subject in self.take(connection, [subject]):
                    return True
            except ConflictLostError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def _take_once(self, connection: Connection, wanted: list[str]) -> list[str]:
        now = self._kind.clock()
        rows = connection.execute(
            select(claims_table.c.subject, claims_table.c.holder, claims_table.c.expires_at < now).where(
                claims_table.c.subject.in_(wanted)
            )
        ).all()
        busy = {subject for subject, _holder, expired in rows if not expired}
        expired = [(subject, holder) for subject, holder, is_expired in rows if is_expired]
        if expired:
            gone = connection.execute(
                delete(claims_table).where(
                    claims_table.c.subject.in_([subject for subject, _holder in expired]),
                    claims_table.c.expires_at < now,
                )
            ).rowcount
            if gone != len(expired):  # renewed meanwhile: still its holder's
                busy |= {subject for subject, _holder in expired}
            for subject, holder in expired:
                logger.warning("claim on %s by %s expired; taking it over", subject, holder)
        free = [subject for subject in wanted if subject not in busy]
        if free:
            self._insert(connection, free)
        return free

    def _insert(self, connection: Connection, subjects: list[str]) -> None:
        """One multi-row INSERT of this run's claims (written out: compiling SQL functions for each
        row of a batch costs more than the round trip it saves)."""
        moments, values = self._kind.clock_text({"claimed_at": 0.0, "expires_at": self.timeout})
        claimed, expires = moments["claimed_at"], moments["expires_at"]
        values.update(holder=self.holder, purpose=self.purpose)
        for index, subject in enumerate(subjects):
            values[f"subject{index}"] = subject
        key = (claimed, expires, len(subjects))
        statement = self._inserts.get(key)
        if statement is None:  # made once per batch size (parsing the text of 200 rows for each batch costs)
            rows = ", ".join(
                f"(:subject{index}, :holder, :purpose, {claimed}, {expires})" for index in range(len(subjects))
            )
            statement = self._inserts.setdefault(
                key, text(f"INSERT INTO {TABLE_NAME} (subject, holder, purpose, claimed_at, expires_at) VALUES {rows}")
            )
        connection.execute(statement, values)

    def may_erase(self, subject: str) -> bool:
        """Whether this run's claim on ``subject`` is known valid for at least half the timeout more."""
        with self._lock:
            taken = self._taken_at.get(subject)
            renewed = self._renewed_at
        if taken is None:
            return False
        return time.monotonic() < max(taken, renewed) + self.timeout / 2

    def release(self, connection: Connection, subjects: Iterable[str]) -> None:
        """Let ``subjects`` go in a transaction of their own (only rows this run holds are deleted)."""
        chosen = self.forget(subjects)
        if not chosen:
            return
        try:
            run_transaction(connection, lambda current: self.release_within(current, chosen), what="release of claims")
        except (DBAPIError, ConflictLostError) as error:
            _not_released(len(chosen), error)

    def release_within(self, connection: Connection, subjects: Sequence[str]) -> None:
        """Delete this run's claim rows for ``subjects`` inside the caller's transaction (which
        commits them together with its own changes); then :meth:`forget` them."""
        if subjects:
            connection.execute(
                delete(claims_table).where(
                    claims_table.c.holder == self.holder, claims_table.c.subject.in_(list(subjects))
                )
            )

    def forget(self, subjects: Iterable[str]) -> list[str]:
        """Stop erasing under (and renewing) ``subjects``; return them as a list."""
        chosen = list(subjects)
        with self._lock:
            for subject in chosen:
                self._taken_at.pop(subject, None)
        return chosen

    # --- heartbeat --------------------------------------------------------------------------------

    def _beat(self) -> None:
        interval = max(self.timeout / 6, 0.05)
        while not self._stopped.wait(interval):
            with self._lock:
                if not self._taken_at:
                    continue
            started = time.monotonic()
            try:
                with self._engine.connect() as connection:
                    run_transaction(connection, self._renew_once, what="claim renewal")
            except Exception as error:  # noqa: BLE001 - erasing stops by itself once claims go stale
                if is_unreachable(error):  # the run reports it and stops; nothing left to renew against
                    logger.debug("claim renewal stopped: %s", describe_db_error(error))
                    return
                logger.warning("could not renew this run's claims: %s", error)
                continue
            with self._lock:
                self._renewed_at = started

    def _renew_once(self, connection: Connection) -> None:
        connection.execute(
            update(claims_table)
            .where(claims_table.c.holder == self.holder)
            .values(expires_at=self._kind.clock(self.timeout))
        )


def _not_released(count: int, error: Exception) -> None:
    """Log claims left to expire: a warning, or a debug line when the database is gone (the run
    reports that once, and nothing it holds can be released)."""
    message = describe_db_error(error) if isinstance(error, DBAPIError) else str(error)
    level = logging.DEBUG if is_unreachable(error) else logging.WARNING
    logger.log(level, "could not release %d claim(s); they expire by themselves: %s", count, message)
