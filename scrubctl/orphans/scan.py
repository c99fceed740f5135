"""Finding orphans: one listing per store, one read of every location row (on MySQL while the
stores are listed), then a closer look only at the pieces no row needs.

Rules (docs/explanation/orphans.md): data is compared with location rows by parsed,
decrypted, normalised URL, never by "name == image id"; a row needs its data unless it and its image
are both ``deleted``; an image that is not ``deleted``, ``pending_delete`` or ``killed`` protects data
named by its id (an upload in flight is not listed at all; an active image whose rows are gone is
``unlinked``, never reclaimable); data younger than the age threshold is never reclaimable; a location
row that cannot be decrypted makes every orphan unreclaimable (what it points at is unknown).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Connection

from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.backends.inventory import STAGING, Examined, StoredPiece
from scrubctl.errors import BackendUnavailableError
from scrubctl.orphans.cache import judge_cache
from scrubctl.orphans.catalogue import Catalogue
from scrubctl.orphans.location_rows import READERS, LocationRows
from scrubctl.orphans.model import (
    AREA_KINDS,
    CACHE_KIND,
    DELETED_ROWS_ONLY,
    IN_FLIGHT,
    PARTIAL_UPLOAD,
    UNLINKED,
    UNPROTECTED_BY_ID,
    UNREFERENCED,
    Orphan,
    OrphanScan,
    StoreScan,
)
from scrubctl.orphans.rows import KeyMaker, RowUse, image_statuses, named_image_id, row_use
from scrubctl.orphans.stores import AgeThreshold, ScannedStore

logger = logging.getLogger(__name__)

Listed = dict[str, list[tuple[ScannedStore, StoredPiece]]]


def list_stores(stores: Sequence[ScannedStore]) -> tuple[Listed, list[StoreScan]]:
    """List every store once; a store that cannot be listed is reported, the others go on."""
    listed: Listed = {}
    scans: list[StoreScan] = []
    for scanned in stores:
        try:
            pieces = list(scanned.inventory.inventory())
        except (BackendUnavailableError, LocationBlocked, LocationFailed) as error:
            # Blocked: the store's configuration gives no way to list it (no reference or keys to list
            # with, a multi-tenant Swift store's reference refused by Keystone): not scanned, not an outage.
            unreachable = not isinstance(error, LocationBlocked)
            why = f"cannot be listed: {error}"
            scans.append(StoreScan(scanned.store.label, scanned.store.driver, False, why, unreachable=unreachable))
            continue
        for piece in pieces:
            entries = listed.get(piece.key)
            if entries is None:
                listed[piece.key] = [(scanned, piece)]
            else:
                entries.append((scanned, piece))
        scans.append(StoreScan(scanned.store.label, scanned.store.driver, True, pieces=len(pieces)))
    return listed, scans


def catalogue_stores(stores: Sequence[ScannedStore]) -> tuple[Catalogue, list[StoreScan]]:
    """List every store once into a :class:`Catalogue` (little kept per piece); a store that cannot be
    listed is reported, the others go on."""
    catalogue = Catalogue()
    scans: list[StoreScan] = []
    for scanned in stores:
        count = 0
        try:
            for piece in scanned.inventory.inventory():
                catalogue.add(scanned, piece)
                count += 1
        except (BackendUnavailableError, LocationBlocked, LocationFailed) as error:
            unreachable = not isinstance(error, LocationBlocked)  # see list_stores
            why = f"cannot be listed: {error}"
            scans.append(StoreScan(scanned.store.label, scanned.store.driver, False, why, unreachable=unreachable))
            catalogue.forget(scanned)
            continue
        scans.append(StoreScan(scanned.store.label, scanned.store.driver, True, pieces=count))
    return catalogue, scans


def find_orphans(
    connection: Connection,
    keys: KeyMaker,
    stores: Sequence[ScannedStore],
    skipped: Sequence[StoreScan],
    *,
    cutoff: datetime,
    now: datetime,
) -> OrphanScan:
    """Scan ``stores`` against Glance's rows; pieces younger than ``cutoff`` are listed but blocked."""
    keys.read_by(stores)
    with LocationRows(connection) as rows:  # the database reads while the stores are listed
        catalogue, scans = catalogue_stores(stores)
        use = row_use(connection, keys, catalogue, rows)
    result = OrphanScan(stores=[*scans, *skipped], cutoff=cutoff, rows_scanned=use.rows)
    candidates = [(piece.key, (scanned, piece)) for scanned, piece in catalogue.left()]
    del catalogue
    named = [named_image_id(piece) for _key, (_store, piece) in candidates]
    statuses = image_statuses(connection, [image_id for image_id in named if image_id], readers=READERS)
    cached = [entry for _key, entry in candidates if entry[1].area == CACHE_KIND]
    ages = AgeThreshold(cutoff, now)
    result.orphans += judge_cache(connection, cached, statuses, ages)
    stored = [(key, entry) for key, entry in candidates if entry[1].area != CACHE_KIND]
    result.orphans += _judge_each(stored, use, statuses, ages)
    result.orphans.sort(key=lambda orphan: (orphan.store.label, orphan.kind, orphan.piece.url))
    return result


def _judge_each(
    candidates: Sequence[tuple[str, tuple[ScannedStore, StoredPiece]]],
    use: RowUse,
    statuses: dict[str, str],
    ages: AgeThreshold,
) -> list[Orphan]:
    """:func:`_judge` each candidate, store by store; an inventory whose ``examine_threads`` says it
    may be asked from several threads at once (one request per piece to a remote store) is asked so."""
    by_store: dict[int, list[tuple[str, tuple[ScannedStore, StoredPiece]]]] = {}
    for candidate in candidates:
        by_store.setdefault(id(candidate[1][0]), []).append(candidate)
    found: list[Orphan] = []
    for entries in by_store.values():

        def judge(candidate: tuple[str, tuple[ScannedStore, StoredPiece]]) -> Orphan | None:
            key, (scanned, piece) = candidate
            return _judge(scanned, piece, key, use, statuses, ages)

        threads = min(int(getattr(entries[0][1][0].inventory, "examine_threads", 1)), len(entries))
        if threads <= 1:
            judged = [judge(candidate) for candidate in entries]
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="orphans-examine") as pool:
                judged = list(pool.map(judge, entries))
        found += [orphan for orphan in judged if orphan is not None]
    return found


def _judge(
    scanned: ScannedStore,
    piece: StoredPiece,
    key: str,
    use: RowUse,
    statuses: dict[str, str],
    ages: AgeThreshold,
) -> Orphan | None:
    """Classify one piece no location row needs; ``None`` when it is not an orphan after all."""
    image_id = named_image_id(piece)
    status = statuses.get(image_id) if image_id else None
    if status in IN_FLIGHT:
        return None  # an upload or import in flight, whatever its age
    try:
        examined = scanned.inventory.examine(piece)
    except (LocationBlocked, LocationFailed) as problem:
        examined = Examined(exists=True, blockers=(str(problem),))
    if not examined.exists:
        return None  # gone since the listing
    protected = status is not None and status not in UNPROTECTED_BY_ID
    kind = _kind(piece, key, use, examined, status, image_id=image_id, protected=protected)
    blockers = [*examined.blockers, *_naming_blockers(piece, image_id, status, protected=protected)]
    moment = examined.last_written
    too_young_because = ages.blocker(moment, unknown="its age is unknown to the store")
    if too_young_because is not None:
        blockers.append(too_young_because)
    if use.undecryptable:
        blockers.append(
            f"{use.undecryptable} location row(s) cannot be decrypted (metadata_encryption_key missing or "
            "wrong): what they point at is unknown"
        )
    return scanned.orphan(piece, examined, image_id=image_id, kind=kind, ages=ages, blockers=blockers)


def _kind(
    piece: StoredPiece,
    key: str,
    use: RowUse,
    examined: Examined,
    status: str | None,
    *,
    image_id: str | None,
    protected: bool,
) -> str:
    """The kind of a piece no location row needs."""
    if piece.area in AREA_KINDS:  # an RBD trash entry, staging, lost Swift segments, an S3 upload
        return piece.area
    if protected:
        return UNLINKED
    if image_id is not None and (examined.partial or status == "killed"):
        return PARTIAL_UPLOAD
    if key in use.deleted_only:
        return DELETED_ROWS_ONLY
    return UNREFERENCED


def _naming_blockers(piece: StoredPiece, image_id: str | None, status: str | None, *, protected: bool) -> list[str]:
    """What the piece's name forbids: an image that still needs it by id, or a name Glance did not write."""
    blockers = []
    if protected and piece.area != STAGING:
        blockers.append(
            f"image {image_id} is {status} and names this data by its id: see `scrubctl broken`; "
            "`scrubctl broken --repair` links it back"
        )
    if image_id is None:
        blockers.append(
            "its name is not a Glance image id: Glance did not write it (Nova, Cinder or an operator may have)"
        )
    return blockers
