"""The rbd deleter's inventory: one ``RBD.list2`` and one ``trash_list`` of the store's pool, a
read-only look (no watcher registered) at the few images no location row needs, and which location
URLs need each image (``rbd:<pool>/<image>`` keys)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed, ProgressCallback
from scrubctl.backends.inventory import DATA, TRASH, Examined, StoredPiece
from scrubctl.backends.rbd.cluster import Cluster
from scrubctl.backends.rbd.native import child_name, listed
from scrubctl.backends.rbd.urls import DEFAULT_POOL, RbdUrl, parse_url
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.utc import glance_timestamp, to_naive_utc

logger = logging.getLogger(__name__)

GLANCE_SNAPSHOT = "snap"
READ_CHUNK = 8 * 1024 * 1024


def glance_url(fsid: str, pool: str, image: str) -> str:
    """The location URL Glance's rbd driver writes for an image it uploaded."""
    return f"rbd://{quote(fsid, safe='')}/{quote(pool, safe='')}/{quote(image, safe='')}/{GLANCE_SNAPSHOT}"


def rbd_key(pool: str, image: str) -> str:
    """``rbd:<pool>/<image>``: the RBD image a location names (the snapshot and fsid are ignored, so a
    row naming another cluster's fsid still protects a same-named image here: never a false orphan)."""
    return f"rbd:{pool}/{image}"


class RbdInventory:
    """The :class:`~scrubctl.backends.inventory.Inventory` of an rbd store (mixed into its deleter,
    which provides :meth:`erase`)."""

    cluster: Cluster
    clones: str

    def erase(self, url: str, *, dry_run: bool, progress: ProgressCallback | None = None) -> EraseResult:
        """Erase an image as a scrub does (the deleter's)."""
        raise NotImplementedError

    # -- listing and looking ------------------------------------------------------------------

    def inventory(self) -> Iterator[StoredPiece]:
        """Every image of the store's pool, then every entry of its RBD trash (one call each)."""
        cluster = self.cluster
        location = RbdUrl(image="", pool=cluster.pool)
        ioctx = cluster.ioctx(location)
        fsid, pool, rbd = cluster.fsid, cluster.pool, cluster.bindings.rbd
        with cluster.native(f"listing pool {pool}", location):
            names = [str(entry["name"]) for entry in rbd.RBD().list2(ioctx)]
        with cluster.native(f"listing the RBD trash of pool {pool}", location):
            try:
                entries = list(rbd.RBD().trash_list(ioctx))
            except (KeyError, ValueError) as error:  # sources the bindings do not know (MIGRATION, REMOVING)
                logger.warning("the RBD trash of pool %s cannot be listed by these bindings: %s", pool, error)
                entries = []
        for name in names:
            yield StoredPiece(url=glance_url(fsid, pool, name), key=rbd_key(pool, name), name=name, area=DATA)
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

    def examine(self, piece: StoredPiece) -> Examined:
        """Size, times, whether ``snap`` exists, and what forbids removing the image (clones with their
        ``pool/image``, watchers, snapshots Glance does not make)."""
        if piece.area == TRASH:
            return self._examine_trash(piece)
        cluster = self.cluster
        try:
            location, ioctx, spec = cluster.locate(piece.url)
        except (LocationBlocked, LocationFailed) as problem:
            return Examined(exists=True, blockers=(str(problem),))
        rbd = cluster.bindings.rbd
        with cluster.native(f"reading RBD image {spec}", location):
            try:
                with rbd.Image(ioctx, location.image, read_only=True) as image:
                    created, modified = _naive(image.create_timestamp()), _naive(image.modify_timestamp())
            except rbd.ImageNotFound:
                return Examined(exists=False)
        found = cluster.inspect(ioctx, location, spec)
        if found is None:
            return Examined(exists=False)
        try:
            blockers = cluster.reasons(found, spec, clones=self.clones)
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

    def _examine_trash(self, piece: StoredPiece) -> Examined:
        """A trash entry: its size and the clones still keeping it (opened by id, read-only)."""
        found = self._trash_children(piece)
        if found is None:
            return Examined(exists=False)
        size, children = found
        blockers = [f"{len(children)} clone(s) keep it: {listed(children)}"] if children else []
        return Examined(exists=True, bytes=size, last_activity=piece.deleted_at, blockers=tuple(blockers))

    def _trash_children(self, piece: StoredPiece) -> tuple[int, list[str]] | None:
        """``(size, clones)`` of a trash entry, or ``None`` when it is gone."""
        cluster = self.cluster
        location = parse_url(piece.url)
        ioctx = cluster.ioctx(location)
        rbd = cluster.bindings.rbd
        with cluster.native(f"reading RBD trash entry {piece.trash_id}", location):
            try:
                with rbd.Image(ioctx, image_id=piece.trash_id, read_only=True) as image:
                    return int(image.size()), sorted(child_name(child) for child in image.list_children2())
            except rbd.ImageNotFound:
                return None

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        """Erase one listed piece: an image as scrub does (:meth:`erase`), a trash entry with
        ``trash_remove`` once no clone keeps it (never forced: a deferment still running blocks it)."""
        if piece.area != TRASH:
            return self.erase(piece.url, dry_run=dry_run)
        cluster = self.cluster
        found = self._trash_children(piece)
        spec = f"{cluster.pool} trash entry {piece.trash_id} ({piece.name})"
        if found is None:
            return EraseResult(EraseOutcome.ALREADY_GONE, f"{spec} already gone", 0)
        size, children = found
        if children:
            raise LocationBlocked(f"{spec} is kept by {len(children)} clone(s): {listed(children)}")
        if dry_run:
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would remove {spec}", size)
        location = parse_url(piece.url)
        ioctx, rbd = cluster.ioctx(location), cluster.bindings.rbd
        with cluster.native(f"removing {spec}", location):
            try:
                rbd.RBD().trash_remove(ioctx, piece.trash_id, False)
            except rbd.ImageNotFound:
                return EraseResult(EraseOutcome.ALREADY_GONE, f"{spec} already gone", 0)
            except (rbd.PermissionError, rbd.ImageBusy) as error:
                raise LocationBlocked(f"{spec} cannot be removed yet ({error})") from None
        return EraseResult(EraseOutcome.ERASED, f"removed {spec}", size)

    def read_chunks(self, url: str) -> Iterator[bytes]:
        """Read an image (at the URL's snapshot, when it names one) from its start."""
        cluster = self.cluster
        location, ioctx, spec = cluster.locate(url)
        rbd = cluster.bindings.rbd
        with cluster.native(f"reading RBD image {spec}", location):
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

    def scope(self) -> tuple[str, ...]:
        """``rbd:<pool>/``: the store's pool (images in other pools are not listed)."""
        return (f"rbd:{self.cluster.pool}/",)

    # -- matching -----------------------------------------------------------------------------

    def location_keys(self, url: str, store: StoreConfig | None) -> tuple[str, ...]:
        """``rbd:<pool>/<image>`` of an ``rbd://`` URL naming an image of this store's pool, whatever
        fsid and snapshot it names; for ``rbd://<image>`` the pool is ``store``'s (``images`` when
        ``store`` is ``None`` or sets none)."""
        scheme, separator, rest = url.partition("://")
        if not separator or scheme.lower() != "rbd":
            return ()
        try:
            parsed = parse_url("rbd://" + rest)
        except LocationBlocked:
            return ()
        pool = parsed.pool or (store.get("rbd_store_pool") if store is not None else None) or DEFAULT_POOL
        return (rbd_key(pool, parsed.image),) if pool == self.cluster.pool else ()

    def needs_store(self, url: str) -> bool:
        """``rbd://<image>``: its pool is its store's."""
        return url.count("/") == 2

    def named_by_last_component(self) -> tuple[str, ...]:
        """None: a four-component URL ends with its snapshot."""
        return ()

    def may_name(self, url: str, names: Collection[str]) -> bool:
        """Its one component, or the image of a four-component URL (percent-decoded, as glance_store
        reads it), is a listed name."""
        if url.rpartition("/")[2] in names:
            return True
        parts = url.split("/")
        return len(parts) == 6 and (parts[4] in names or unquote(parts[4]) in names)

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        """The URL Glance writes, and ``rbd://<image>``."""
        return (piece.url, f"rbd://{piece.name}")


def _naive(moment: datetime) -> datetime:
    """librbd's timestamps as naive UTC (the bindings return naive UTC already on Pacific)."""
    return glance_timestamp(to_naive_utc(moment))
