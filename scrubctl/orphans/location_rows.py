"""Reading every location row of a Glance database, fast: what ``orphans`` compares its listings with.

On MySQL/MariaDB the rows are read in ranges of primary keys by :data:`READERS` connections at
once, each in a consistent snapshot taken together with the others' before the first range is
read. The server aggregates each range into two strings (the values of rows not marked deleted,
and the value and image id of those that are), so that PyMySQL, which is pure Python, decodes a
few hundred strings instead of a million row packets. A range whose strings do not split into
exactly its row counts (a value holding a separator, a string cut at ``group_concat_max_len``) is
read again row by row. On SQLite the rows are streamed as they are (its driver is C).

The snapshots are taken a moment apart, so a change committed in that moment may be seen by one
reader and not by another: the listing can be off by such a change, which is why reclaiming
re-checks every piece inside its claim.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, case, func, select, text

from scrubctl.glance.schema import DELETED, image_locations
from scrubctl.glance.servers import server_kind

RANGE_IDS = 25_000  # primary keys per aggregated range (each query costs the server ~2 ms to start)
READERS = 3  # connections reading ranges at once (the server aggregates while Python splits)
# Ranges read ahead while the stores are being listed and the rows looked at: kept as the server's
# strings (~2 MB a range of Glance-shaped rows), split only when taken.
BUFFERED_CHUNKS = 16
STREAM_ROWS = 5000
# group_concat_max_len for the readers' sessions: a quarter of the largest packet the server sends
# (a range's row holds two strings), at most this; a longer string is cut, and its range is then read
# row by row.
CONCAT_LIMIT = 256 * 1024 * 1024
# Per range: its row count, how many rows are marked deleted, the values of the rows that are not,
# and "<image id>\t<value>" of those that are.
_RANGE = text(
    "SELECT COUNT(*), COALESCE(SUM(status = 'deleted'), 0),"
    " GROUP_CONCAT(CASE WHEN status <> 'deleted' THEN value END SEPARATOR '\\n'),"
    " GROUP_CONCAT(CASE WHEN status = 'deleted' THEN CONCAT(image_id, '\\t', value) END SEPARATOR '\\n')"
    " FROM image_locations WHERE id >= :low AND id < :high"
)


@dataclass(frozen=True)
class _Aggregated:
    """A range as the server aggregated it, its strings checked against its counts, not yet split."""

    live_text: str
    deleted_text: str

    def split(self) -> RowChunk:
        return RowChunk(
            live=self.live_text.split("\n") if self.live_text else [],
            deleted=self.deleted_text.split("\n") if self.deleted_text else [],
        )


@dataclass
class RowChunk:
    """Some location rows: the values of rows not marked deleted (``live``), and of those that are,
    each as ``"<image id>\t<value>"`` (``deleted``)."""

    live: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _streamed(connection: Connection, ids: tuple[int, int] | None) -> Iterator[RowChunk]:
    """Rows as the driver streams them (all of them, or those with ``low <= id < high``)."""
    owner = case((image_locations.c.status == DELETED, image_locations.c.image_id), else_=None)
    statement = select(image_locations.c.value, owner)
    if ids is not None:
        statement = statement.where(image_locations.c.id >= ids[0], image_locations.c.id < ids[1])
    result = connection.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(statement)
    try:
        for rows in result.partitions():
            chunk = RowChunk()
            for value, deleted_owner in rows:
                if deleted_owner is None:
                    chunk.live.append(value)
                else:
                    chunk.deleted.append(f"{deleted_owner}\t{value}")
            yield chunk
    finally:
        result.close()


class LocationRows:
    """Every location row exactly once, in chunks, in no particular order. On MySQL the reading
    starts as soon as this is made (the caller lists its stores meanwhile) and at most
    :data:`BUFFERED_CHUNKS` chunks wait to be taken; :meth:`close` stops the readers."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._chunks: queue.Queue[RowChunk | _Aggregated | BaseException | None] = queue.Queue(maxsize=BUFFERED_CHUNKS)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ranges: Iterator[int] = iter(())
        self._taking = threading.Lock()
        self._snapshots = threading.Barrier(READERS)
        if not server_kind(connection).parallel_reads:
            return
        ids = select(func.min(image_locations.c.id), func.max(image_locations.c.id))
        lowest, highest = connection.execute(ids).one()
        if lowest is None:
            return
        self._ranges = iter(range(int(lowest), int(highest) + 1, RANGE_IDS))
        self._threads = [
            threading.Thread(target=self._read, name=f"orphans-rows-{index}", daemon=True) for index in range(READERS)
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> LocationRows:
        return self

    def __exit__(self, *_exception: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[RowChunk]:
        if not server_kind(self._connection).parallel_reads:
            yield from _streamed(self._connection, None)
            return
        finished = 0
        while finished < len(self._threads):
            item = self._chunks.get()
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            elif isinstance(item, _Aggregated):
                yield item.split()  # split here, so that what waits in the queue stays compact
            else:
                yield item

    def close(self) -> None:
        """Stop the readers and wait for them (each ends its snapshot)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _read(self) -> None:
        """One reader: a consistent snapshot taken together with the others', then ranges until none is left."""
        try:
            with self._connection.engine.connect() as reader:
                reader.execution_options(isolation_level="REPEATABLE READ")
                reader.exec_driver_sql(
                    f"SET SESSION group_concat_max_len = LEAST(@@max_allowed_packet DIV 4, {int(CONCAT_LIMIT)})"
                )
                reader.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                self._snapshots.wait(timeout=60)
                while not self._stop.is_set():
                    with self._taking:
                        low = next(self._ranges, None)
                    if low is None:
                        break
                    for chunk in _read_range(reader, low, low + RANGE_IDS):
                        self._put(chunk)
                reader.rollback()
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            self._snapshots.abort()
            self._put(error)
        finally:
            self._put(None)

    def _put(self, item: RowChunk | _Aggregated | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


def _read_range(reader: Connection, low: int, high: int) -> Iterator[RowChunk | _Aggregated]:
    """One range, aggregated; read row by row instead when the strings do not split as counted (a
    value holding a newline or a tab, a string cut at ``group_concat_max_len``)."""
    rows, deleted, live_text, deleted_text = reader.execute(_RANGE, {"low": low, "high": high}).one()
    rows, deleted = int(rows), int(deleted)
    live = live_text.count("\n") + 1 if live_text else 0
    dead = deleted_text.count("\n") + 1 if deleted_text else 0
    if live != rows - deleted or dead != deleted or (deleted and deleted_text.count("\t") != deleted):
        yield from _streamed(reader, (low, high))
    elif rows:
        yield _Aggregated(live_text or "", deleted_text or "")
