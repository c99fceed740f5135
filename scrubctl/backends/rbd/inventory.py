"""The rbd deleter's inventory: one ``RBD.list2`` and one ``trash_list`` of the store's pool, and a
read-only look (no watcher registered) at the few images no location row needs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed
from scrubctl.backends.inventory import DATA, TRASH, Examined, StoredPiece, rbd_key
from scrubctl.backends.rbd.native import child_name, listed
from scrubctl.backends.rbd.urls import RbdUrl, parse_url

if TYPE_CHECKING:
    from scrubctl.backends.rbd.deleter import RbdDeleter

logger = logging.getLogger(__name__)

GLANCE_SNAPSHOT = "snap"
READ_CHUNK = 8 * 1024 * 1024


def glance_url(fsid: str, pool: str, image: str) -> str:
    """The location URL Glance's rbd driver writes for an image it uploaded."""
    return f"rbd://{quote(fsid, safe='')}/{quote(pool, safe='')}/{quote(image, safe='')}/{GLANCE_SNAPSHOT}"


def list_pool(deleter: RbdDeleter) -> Iterator[StoredPiece]:
    """Every image of the store's pool, then every entry of its RBD trash."""
    location = RbdUrl(image="", pool=deleter.pool)
    ioctx = deleter._ioctx(location)
    fsid, pool, rbd = deleter._fsid, deleter.pool, deleter.bindings.rbd
    with deleter._native(f"listing pool {pool}", location):
        names = [str(entry["name"]) for entry in rbd.RBD().list2(ioctx)]
    for name in names:
        yield StoredPiece(url=glance_url(fsid, pool, name), key=rbd_key(pool, name), name=name, area=DATA)
    with deleter._native(f"listing the RBD trash of pool {pool}", location):
        try:
            entries = list(rbd.RBD().trash_list(ioctx))
        except (KeyError, ValueError) as error:  # sources the bindings do not know (MIGRATION, REMOVING)
            logger.warning("the RBD trash of pool %s cannot be listed by these bindings: %s", pool, error)
            entries = []
    for entry in entries:
        name = str(entry["name"])
        deletion = entry.get("deletion_time")
        yield StoredPiece(
            url=glance_url(fsid, pool, name),
            key=rbd_key(pool, name),
            name=name,
            area=TRASH,
            trash_id=str(entry["id"]),
            deleted_at=_naive(deletion) if isinstance(deletion, datetime) else None,
        )


def examine(deleter: RbdDeleter, piece: StoredPiece) -> Examined:
    """Size, times, whether ``snap`` exists, and what forbids removing the image (clones with their
    ``pool/image``, watchers, snapshots Glance does not make)."""
    if piece.area == TRASH:
        return _examine_trash(deleter, piece)
    try:
        location, ioctx, spec = deleter._locate(piece.url)
    except (LocationBlocked, LocationFailed) as problem:
        return Examined(exists=True, blockers=(str(problem),))
    rbd = deleter.bindings.rbd
    with deleter._native(f"reading RBD image {spec}", location):
        try:
            with rbd.Image(ioctx, location.image, read_only=True) as image:
                created, modified = _naive(image.create_timestamp()), _naive(image.modify_timestamp())
        except rbd.ImageNotFound:
            return Examined(exists=False)
    found = deleter._inspect(ioctx, location, spec)
    if found is None:
        return Examined(exists=False)
    try:
        blockers = deleter._reasons(found, location, spec)
    except (LocationBlocked, LocationFailed) as problem:
        blockers = [str(problem)]
    return Examined(
        exists=True,
        bytes=found.size,
        created_at=created,
        last_activity=max(created, modified),
        partial=not found.snapshot_exists,
        blockers=tuple(blockers),
    )


def _examine_trash(deleter: RbdDeleter, piece: StoredPiece) -> Examined:
    """A trash entry: its size and the clones still keeping it (opened by id, read-only)."""
    location = parse_url(piece.url)
    ioctx = deleter._ioctx(location)
    found = _trash_children(deleter, ioctx, piece)
    if found is None:
        return Examined(exists=False)
    size, children = found
    blockers = [f"{len(children)} clone(s) keep it: {listed(children)}"] if children else []
    return Examined(exists=True, bytes=size, last_activity=piece.deleted_at, blockers=tuple(blockers))


def _trash_children(deleter: RbdDeleter, ioctx: Any, piece: StoredPiece) -> tuple[int, list[str]] | None:
    """``(size, clones)`` of a trash entry, or ``None`` when it is gone."""
    rbd = deleter.bindings.rbd
    with deleter._native(f"reading RBD trash entry {piece.trash_id}", parse_url(piece.url)):
        try:
            with rbd.Image(ioctx, image_id=piece.trash_id, read_only=True) as image:
                return int(image.size()), sorted(child_name(child) for child in image.list_children2())
        except rbd.ImageNotFound:
            return None


def erase_piece(deleter: RbdDeleter, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
    """Erase one listed piece: an image as scrub does (:meth:`RbdDeleter.erase`), a trash entry with
    ``trash_remove`` once no clone keeps it (never forced: a deferment still running blocks it)."""
    if piece.area != TRASH:
        return deleter.erase(piece.url, dry_run=dry_run)
    location = parse_url(piece.url)
    ioctx = deleter._ioctx(location)
    found = _trash_children(deleter, ioctx, piece)
    spec = f"{deleter.pool} trash entry {piece.trash_id} ({piece.name})"
    if found is None:
        return EraseResult(EraseOutcome.ALREADY_GONE, f"{spec} already gone", 0)
    size, children = found
    if children:
        raise LocationBlocked(f"{spec} is kept by {len(children)} clone(s): {listed(children)}")
    if dry_run:
        return EraseResult(EraseOutcome.WOULD_ERASE, f"would remove {spec}", size)
    rbd = deleter.bindings.rbd
    with deleter._native(f"removing {spec}", location):
        try:
            rbd.RBD().trash_remove(ioctx, piece.trash_id, False)
        except rbd.ImageNotFound:
            return EraseResult(EraseOutcome.ALREADY_GONE, f"{spec} already gone", 0)
        except (rbd.PermissionError, rbd.ImageBusy) as error:
            raise LocationBlocked(f"{spec} cannot be removed yet ({error})") from None
    return EraseResult(EraseOutcome.ERASED, f"removed {spec}", size)


def read_chunks(deleter: RbdDeleter, url: str) -> Iterator[bytes]:
    """Read an image (at the URL's snapshot, when it names one) from its start."""
    location, ioctx, spec = deleter._locate(url)
    rbd = deleter.bindings.rbd
    with deleter._native(f"reading RBD image {spec}", location):
        try:
            image: Any = rbd.Image(ioctx, location.image, snapshot=location.snapshot, read_only=True)
        except rbd.ImageNotFound:
            raise LocationFailed(f"RBD image {spec}@{location.snapshot} is gone") from None
        with image:
            size, offset = int(image.size()), 0
            while offset < size:
                chunk = bytes(image.read(offset, min(READ_CHUNK, size - offset)))
                offset += len(chunk)
                yield chunk


def _naive(moment: datetime) -> datetime:
    """librbd's timestamps as naive UTC (the bindings return naive UTC already on Pacific)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)
