"""What is waiting to be scrubbed: pending images and pending locations of active images.

Each section is one streamed query (images joined to their pending locations, ordered so that an
image's rows are adjacent), so memory stays flat however many rows there are.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, and_, false, select, true

from scrubctl.glance.locations import Location, LocationDecoder
from scrubctl.glance.schema import PENDING_DELETE, image_locations, images
from scrubctl.glance.servers import server_kind
from scrubctl.settings.utc import utc_now

SelectT = TypeVar("SelectT", bound=Select[Any])
STREAM_BATCH_ROWS = 2000
DELETED_INDEX = "ix_images_deleted"
PENDING_IMAGES = "Pending images"
PENDING_LOCATIONS = "Pending locations of active images"

# Only what the listing and the scrub plan use: every column and every datetime parsed costs time
# on a large cloud. A pending image is pending since deleted_at, which Glance sets on every delete: a
# row without one is damaged, never due (the due rule is ``deleted_at <= cutoff`` in SQL and in
# Python alike) and flagged with :data:`DELETED_AT_NOT_SET`.
IMAGE_COLUMNS = (
    images.c.id,
    images.c.name,
    images.c.owner,
    images.c.size,
    images.c.status,
    images.c.visibility,
    images.c.deleted_at.label("pending_since"),
)
DELETED_AT_NOT_SET = "deleted_at is not set (Glance sets it on every delete: a damaged row, never due)"
LOCATION_COLUMNS = (
    image_locations.c.id.label("location_id"),
    image_locations.c.value.label("location_value"),
    image_locations.c.meta_data.label("location_meta_data"),
    image_locations.c.status.label("location_status"),
    image_locations.c.deleted_at.label("location_deleted_at"),
)


@dataclass(frozen=True)
class Selection:
    """Which images to consider; every field narrows the choice."""

    older_than: datetime | None = None
    due_only: bool = False
    owner: str | None = None
    store: str | None = None
    limit: int | None = None
    image_ids: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """An image with its pending locations, its age, and what stands in the way of scrubbing it."""

    id: str
    name: str | None
    owner: str | None
    size: int | None
    status: str
    visibility: str
    pending_since: datetime | None
    locations: tuple[Location, ...]
    age_seconds: float | None
    due: bool
    flags: tuple[str, ...] = field(default=())


def pending_images_statement(selection: Selection, cutoff: datetime | None) -> Select[Any]:
    """The one query behind the pending-images section: pending images (deleted at or before
    ``cutoff``) left-joined to their pending locations, an image's rows adjacent.

    Rows come in image id order, which the primary key gives without sorting, so they stream while
    the server scans; with a limit, the oldest images are chosen (and listed oldest first).
    """
    candidates = select(*IMAGE_COLUMNS).where(images.c.deleted == true(), images.c.status == PENDING_DELETE)
    candidates = _narrowed(candidates, selection, images.c.deleted_at, cutoff)
    sql_limit = selection.limit if selection.store is None else None
    if sql_limit is not None:
        candidates = candidates.order_by("pending_since", images.c.id).limit(sql_limit)
    image_rows = candidates.subquery("pending")
    statement = select(image_rows, *LOCATION_COLUMNS).select_from(
        image_rows.outerjoin(
            image_locations,
            and_(image_locations.c.image_id == image_rows.c.id, image_locations.c.status == PENDING_DELETE),
        )
    )
    if selection.limit is not None:  # (with --store the limit is applied while streaming)
        return statement.order_by(image_rows.c.pending_since, image_rows.c.id)
    return statement.order_by(image_rows.c.id)


def _narrowed(statement: SelectT, selection: Selection, deleted_at: Any, cutoff: datetime | None) -> SelectT:
    """Apply the age cutoff (on ``deleted_at``), owner and explicit ids of ``selection``."""
    if cutoff is not None:
        statement = statement.where(deleted_at <= cutoff)
    if selection.owner is not None:
        statement = statement.where(images.c.owner == selection.owner)
    if selection.image_ids:
        statement = statement.where(images.c.id.in_(list(selection.image_ids)))
    return statement


def due_cutoff(now: datetime, scrub_time: int) -> datetime:
    """Images deleted at or before this moment are due (``deleted_at + scrub_time <= now``)."""
    return now - timedelta(seconds=scrub_time)


class PendingQueue:
    """The pending queue: what is waiting to be scrubbed, read from Glance's database."""

    def __init__(self, decoder: LocationDecoder, scrub_time: int, now: datetime | None = None) -> None:
        self._decoder = decoder
        self._scrub_time = scrub_time
        self.now = now or utc_now()
        self._due_before = due_cutoff(self.now, scrub_time)

    def pending_images(self, connection: Connection, selection: Selection) -> Generator[ImageEntry, None, None]:
        """Stream every ``pending_delete`` image (all visibilities) with its pending locations."""
        statement = pending_images_statement(selection, self._cutoff(selection))
        yield from self._limited(self._entries(connection, statement), selection)

    def pending_locations_of_live_images(
        self, connection: Connection, selection: Selection
    ) -> Generator[ImageEntry, None, None]:
        """Stream images that are not pending themselves but have ``pending_delete`` locations
        (left by ``DELETE /v2/stores/<store>/<id>``; Glance's scrubber never erases them)."""
        statement = (
            select(*IMAGE_COLUMNS, *LOCATION_COLUMNS)
            .select_from(images.join(image_locations, image_locations.c.image_id == images.c.id))
            .where(
                image_locations.c.deleted == true(),
                image_locations.c.status == PENDING_DELETE,
                images.c.status != PENDING_DELETE,
                images.c.deleted == false(),
            )
            .order_by(images.c.id, image_locations.c.id)
        )
        # Probe (deleted = 0, id) in the small deleted index instead of reading the row of every
        # pending image: nearly all pending locations belong to pending images (17 s to 3 s on a
        # million images with a cold cache, MySQL/MariaDB).
        statement = server_kind(connection).with_index_hint(connection, statement, images, DELETED_INDEX)
        statement = _narrowed(statement, selection, image_locations.c.deleted_at, self._cutoff(selection))
        yield from self._limited(self._entries(connection, statement), selection)

    def pending_work(
        self, connection: Connection, selection: Selection
    ) -> Generator[tuple[str, Iterator[ImageEntry]], None, None]:
        """Yield the two sections, in order: pending images, then pending locations of live images.

        ``selection.limit`` counts across both; consume each section before asking for the next.
        Closing this generator closes the section being read and its streamed query, so close it
        before the connection when a reader stops early (a closed pipe, an error).
        """
        shown = 0

        def counted(entries: Generator[ImageEntry, None, None]) -> Generator[ImageEntry, None, None]:
            nonlocal shown
            try:
                for entry in entries:
                    shown += 1
                    yield entry
            finally:
                entries.close()

        section = counted(self.pending_images(connection, selection))
        try:
            yield PENDING_IMAGES, section
        finally:
            section.close()
        remaining = None if selection.limit is None else selection.limit - shown
        if remaining is None or remaining > 0:
            narrowed = replace(selection, limit=remaining)
            section = counted(self.pending_locations_of_live_images(connection, narrowed))
            try:
                yield PENDING_LOCATIONS, section
            finally:
                section.close()

    def _cutoff(self, selection: Selection) -> datetime | None:
        cutoffs = [moment for moment in (selection.older_than,) if moment is not None]
        if selection.due_only:
            cutoffs.append(due_cutoff(self.now, self._scrub_time))
        return min(cutoffs) if cutoffs else None

    def _limited(
        self, entries: Generator[ImageEntry, None, None], selection: Selection
    ) -> Generator[ImageEntry, None, None]:
        count = 0
        try:
            for entry in entries:
                if selection.limit is not None and count >= selection.limit:
                    return
                if selection.store is not None and not any(
                    location.store_label == selection.store for location in entry.locations
                ):
                    continue
                count += 1
                yield entry
        finally:
            entries.close()

    def _entries(self, connection: Connection, statement: Select[Any]) -> Generator[ImageEntry, None, None]:
        result = connection.execution_options(stream_results=True, yield_per=STREAM_BATCH_ROWS).execute(statement)
        try:
            for _image_id, rows in groupby(result, key=lambda row: row.id):
                yield self._entry(list(rows))
        finally:
            result.close()

    def _entry(self, rows: list[Any]) -> ImageEntry:
        first = rows[0]
        locations = tuple(
            self._decoder.decode(
                location_id=row.location_id,
                image_id=first.id,
                value=row.location_value,
                meta_data=row.location_meta_data,
                status=sys.intern(row.location_status),
                deleted_at=_same(row.location_deleted_at, first.pending_since),
            )
            for row in sorted(rows, key=_location_order)
            if row.location_id is not None
        )
        since = first.pending_since
        if first.status != PENDING_DELETE:  # pending since its first location was deleted from a store
            since = min((location.deleted_at for location in locations if location.deleted_at), default=None)
        # The driver makes a new string of every value; the few that repeat across images (status,
        # visibility, owner) are kept once each: a plan of 10,000 images is ~2.5 MB smaller.
        return ImageEntry(
            id=first.id,
            name=first.name,
            owner=first.owner if first.owner is None else sys.intern(first.owner),
            size=first.size,
            status=sys.intern(first.status),
            visibility=sys.intern(first.visibility),
            pending_since=since,
            locations=locations,
            age_seconds=None if since is None else (self.now - since).total_seconds(),
            due=since is not None and since <= self._due_before,
            flags=image_flags(first.status, locations, deleted_at_set=since is not None),
        )


def _same(moment: datetime | None, other: datetime | None) -> datetime | None:
    """``moment``, or ``other`` when they are equal: Glance stamps an image and its locations with
    one timestamp when it deletes them, and a plan keeps one object of it instead of two."""
    return other if moment is not None and moment == other else moment


def _location_order(row: Any) -> int:
    return int(row.location_id or 0)


def image_flags(status: str, locations: Sequence[Location], *, deleted_at_set: bool = True) -> tuple[str, ...]:
    """Name what prevents scrubbing an image as it stands (``deleted_at_set``: whether a pending
    image's row has its ``deleted_at``)."""
    flags: list[str] = []
    if not deleted_at_set and status == PENDING_DELETE:
        flags.append(DELETED_AT_NOT_SET)
    if not locations and status == PENDING_DELETE:
        flags.append("no pending location (nothing to erase; scrub finalizes it)")
    flags.extend(f"location {location.id}: {location.problem}" for location in locations if location.problem)
    return tuple(flags)
