"""Finding broken images: one listing per store, one streamed query for the usable images and their
location rows, and a closer look (``exists``) only at live locations the listings lack.

An image is ``active`` or ``deactivated`` and:

* ``restored_without_locations``: ``deleted_at`` is set and no location row is alive (``deleted = 0``):
  what ``glance-scrubber --restore`` leaves; after ``db purge`` its location rows may be gone too;
* ``unlinked``: ``deleted_at`` is not set, no location row is alive, but data named by its id is in a
  scanned store;
* ``data_missing``: a live location whose data is gone from its (scanned) store; or no live location
  and no data named by its id anywhere scanned;
* ``deleted_at_set``: live locations, but ``deleted_at`` set, which ``db purge`` can hard-delete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, and_, select

from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.backends.inventory import DATA
from scrubctl.broken.model import (
    DATA_MISSING,
    DELETED_AT_SET,
    RESTORED_WITHOUT_LOCATIONS,
    UNLINKED,
    USABLE,
    BrokenImage,
    FoundData,
)
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.locations import Location, LocationDecoder
from scrubctl.glance.schema import image_locations, images
from scrubctl.orphans.rows import KeyMaker, named_image_id
from scrubctl.orphans.scan import Listed
from scrubctl.orphans.stores import ScannedStore
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import iso_utc

STREAM_ROWS = 5000


def usable_images_statement() -> Any:
    """Every active or deactivated image with all its location rows, an image's rows adjacent."""
    return (
        select(
            images.c.id,
            images.c.name,
            images.c.status,
            images.c.deleted_at,
            images.c.checksum,
            images.c.os_hash_value,
            image_locations.c.id.label("location_id"),
            image_locations.c.value,
            image_locations.c.meta_data,
            image_locations.c.status.label("location_status"),
            image_locations.c.deleted.label("location_deleted"),
        )
        .select_from(images.outerjoin(image_locations, and_(image_locations.c.image_id == images.c.id)))
        .where(images.c.status.in_(USABLE))
        .order_by(images.c.id)
    )


class BrokenFinder:
    """Compares usable images with what the scanned stores hold."""

    def __init__(
        self, keys: KeyMaker, decoder: LocationDecoder, stores: Sequence[ScannedStore], listed: Listed
    ) -> None:
        self.keys = keys
        keys.read_by(stores)
        self.decoder = decoder
        self.listed = listed
        self.scopes = tuple(prefix for scanned in stores for prefix in scanned.inventory.scope())
        self.by_id: dict[str, list[FoundData]] = {}
        for entries in listed.values():
            for scanned, piece in entries:
                image_id = named_image_id(piece)
                if image_id is not None and piece.area == DATA:
                    self.by_id.setdefault(image_id, []).append(FoundData(scanned, piece))
        self.stores = {scanned.store.label: scanned for scanned in stores}

    def find(self, connection: Connection) -> Iterator[BrokenImage]:
        """Stream the broken images, in image id order."""
        result = connection.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(
            usable_images_statement()
        )
        try:
            for _image_id, rows in groupby(result, key=lambda row: row.id):
                yield from self._judge(list(rows))
        finally:
            result.close()

    def _judge(self, rows: list[Any]) -> Iterator[BrokenImage]:
        first = rows[0]
        located = [row for row in rows if row.location_id is not None]
        live = [row for row in located if not row.location_deleted]
        views = tuple(self._view(row) for row in located)
        found = tuple(self.by_id.get(first.id, ()))
        found_views = tuple(
            {"id": None, "url": mask_url(item.piece.url), "store": item.scanned.store.label, "state": "found by id"}
            for item in found
        )
        verifiable = bool(first.checksum or first.os_hash_value)

        def broken(problem: str, detail: str, repairable: bool, extra: tuple[dict[str, Any], ...] = ()) -> BrokenImage:
            return BrokenImage(first.id, first.name, first.status, problem, detail, repairable, views + extra, found)

        deleted_at = iso_utc(first.deleted_at)
        if not live:
            pending = [row for row in located if row.location_status == "pending_delete"]
            if first.deleted_at is not None:
                if pending:
                    detail = f"deleted_at {deleted_at} still set; {len(pending)} location row(s) left pending_delete"
                    yield broken(RESTORED_WITHOUT_LOCATIONS, detail, True)
                elif found:
                    detail = f"deleted_at {deleted_at} still set; location rows gone; data named by its id found"
                    yield broken(RESTORED_WITHOUT_LOCATIONS, detail + _verify_note(verifiable), verifiable, found_views)
                else:
                    detail = f"deleted_at {deleted_at} still set; no location row alive and no data found by its id"
                    yield broken(RESTORED_WITHOUT_LOCATIONS, detail, False)
            elif found:
                detail = "no location row alive; data named by its id found" + _verify_note(verifiable)
                yield broken(UNLINKED, detail, verifiable, found_views)
            else:
                yield broken(
                    DATA_MISSING, "no location row alive and no data named by its id in any scanned store", False
                )
            return
        missing = [row for row in live if self._missing(row)]
        if missing:
            shown = ", ".join(str(row.location_id) for row in missing)
            yield broken(DATA_MISSING, f"the data of live location(s) {shown} is gone from the store", False)
        if first.deleted_at is not None:
            detail = f"deleted_at {deleted_at} set on a usable image: glance-manage db purge can hard-delete it"
            yield broken(DELETED_AT_SET, detail, True)

    def _missing(self, row: Any) -> bool:
        """Whether a live location's data is gone: not in a listing that covers its store, confirmed
        by the store itself."""
        found, readable = self.keys.key(row.value, row.meta_data)
        if not readable or not found or any(self._holds_data(key) for key in found):
            return False
        if not any(key.startswith(self.scopes) for key in found):
            return False  # a store this scan did not list
        location = self._location(row)
        scanned = self.stores.get(location.store_label or "")
        if scanned is None or location.url is None:
            return False
        try:
            return not scanned.deleter.exists(location.url)
        except (LocationBlocked, LocationFailed, BackendUnavailableError):
            return False

    def _holds_data(self, key: str) -> bool:
        """Whether the listings hold the data itself under ``key``: a Swift large object's segments
        whose manifest is gone, an incomplete S3 upload or an RBD trash entry share its key but are
        not the data a live location reads."""
        return any(piece.area == DATA for _scanned, piece in self.listed.get(key, ()))

    def _location(self, row: Any) -> Location:
        """The row's location, decoded."""
        return self.decoder.decode(
            location_id=row.location_id,
            image_id=row.id,
            value=row.value,
            meta_data=row.meta_data,
            status=row.location_status,
            deleted_at=None,
        )

    def _view(self, row: Any) -> dict[str, Any]:
        url, _encrypted, _problem = self.decoder.decrypt(row.value)
        store_name = self._location(row).store_label
        state = "live" if not row.location_deleted else row.location_status
        return {
            "id": row.location_id,
            "url": mask_url(url) if url else "<undecryptable>",
            "store": store_name,
            "state": state,
        }


def _verify_note(verifiable: bool) -> str:
    if verifiable:
        return " (linked back only if it matches the recorded checksum and os_hash_value)"
    return "; no checksum or os_hash_value recorded: it cannot be verified, so it is not linked back"
