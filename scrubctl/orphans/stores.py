"""Which stores an orphan scan lists: every configured store whose deleter offers an inventory, and
Glance's staging and tasks directories (through the file deleter's inventory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scrubctl.backends import DeleterPool, scheme_for_driver
from scrubctl.backends.base import Deleter, LocationBlocked
from scrubctl.backends.file import FileDeleter
from scrubctl.backends.inventory import STAGING, Examined, Inventory, StoredPiece
from scrubctl.orphans.cache_files import cache_location
from scrubctl.orphans.model import Orphan, StoreScan
from scrubctl.settings.config import Settings, StoreConfig
from scrubctl.settings.utc import iso_utc


@dataclass(frozen=True)
class AgeThreshold:
    """A scan's age threshold: a piece last written after ``cutoff`` (or at a time unknown) is too
    young to reclaim; ages are counted to ``now``."""

    cutoff: datetime
    now: datetime

    def too_young(self, moment: datetime | None) -> bool:
        """Whether a piece last written at ``moment`` is too young."""
        return moment is None or moment > self.cutoff

    def blocker(self, moment: datetime | None, *, unknown: str) -> str | None:
        """Why a piece last written at ``moment`` is too young (``unknown``: its age is not known);
        ``None`` when it is old enough."""
        if moment is None:
            return f"{unknown}: too young for the age threshold"
        if moment > self.cutoff:
            return f"too young for the age threshold: last written {iso_utc(moment)}, after {iso_utc(self.cutoff)}"
        return None


@dataclass(frozen=True)
class ScannedStore:
    """A store to list, the scheme of its URLs, the deleter (with an inventory) that lists it, and
    every URL scheme that deleter reads (the rows of those schemes are matched by its inventory)."""

    store: StoreConfig
    scheme: str
    deleter: Deleter
    inventory: Inventory
    schemes: tuple[str, ...] = ()

    @property
    def row_schemes(self) -> tuple[str, ...]:
        """The URL schemes of the rows its inventory matches."""
        return self.schemes or (self.scheme,)

    def orphan(
        self,
        piece: StoredPiece,
        examined: Examined,
        *,
        image_id: str | None,
        kind: str,
        ages: AgeThreshold,
        blockers: list[str],
    ) -> Orphan:
        """One of this store's pieces judged an orphan: too young when last written after the age
        threshold, its age counted from its creation (else from when it was last written)."""
        since = examined.created_at or examined.last_written
        return Orphan(
            store=self.store,
            scheme=self.scheme,
            piece=piece,
            image_id=image_id,
            kind=kind,
            bytes=examined.bytes,
            created_at=examined.created_at,
            age_seconds=None if since is None else (ages.now - since).total_seconds(),
            blockers=tuple(blockers),
            too_young=ages.too_young(examined.last_written),
            deleter=self.deleter,
        )


def stores_to_scan(
    settings: Settings, pool: DeleterPool, only: str | None, *, with_cache: bool = True
) -> tuple[list[ScannedStore], list[StoreScan]]:
    """The stores with an inventory (and, ``with_cache``, this node's image cache), and a
    :class:`StoreScan` naming each one that is not scanned."""
    chosen: list[ScannedStore] = []
    skipped: list[StoreScan] = []
    for store in settings.configured_stores():
        if only is not None and store.label != only:
            continue
        scheme = scheme_for_driver(store.driver)
        try:
            deleter = pool.get(scheme, store)
        except LocationBlocked as blocked:
            skipped.append(StoreScan(store.label, store.driver, False, str(blocked)))
            continue
        if not isinstance(deleter, Inventory):
            skipped.append(StoreScan(store.label, store.driver, False, "its deleter offers no inventory"))
            continue
        chosen.append(ScannedStore(store, scheme, deleter, deleter, pool.registry.kind_schemes(scheme)))
    for store, directory in settings.staging_directories():
        if only is not None and store.label != only:
            continue
        if not directory.is_dir():
            skipped.append(StoreScan(store.label, "file", False, f"staging directory {directory} does not exist here"))
            continue
        staging = FileDeleter(store)
        staging.directories, staging.area = [directory], STAGING
        chosen.append(ScannedStore(store, "file", staging, staging, pool.registry.kind_schemes("file")))
    if not with_cache:
        return chosen, skipped
    cache = cache_location(settings, only)  # this node's image cache, per node as staging is
    if isinstance(cache, StoreScan):
        skipped.append(cache)
    elif cache is not None:
        chosen.append(ScannedStore(cache[0], "file", cache[1], cache[1]))
    return chosen, skipped
