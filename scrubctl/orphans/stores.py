"""Which stores an orphan scan lists: every configured ``file`` and ``rbd`` store, and Glance's staging
and tasks directories, each through its deleter's optional inventory."""

from __future__ import annotations

from dataclasses import dataclass

from scrubctl.backends import DeleterPool
from scrubctl.backends.base import Deleter, LocationBlocked
from scrubctl.backends.file import FileDeleter
from scrubctl.backends.inventory import STAGING, Inventory
from scrubctl.orphans.model import StoreScan
from scrubctl.settings.config import Settings, StoreConfig

SCHEMES = {"file": "file", "rbd": "rbd"}  # driver -> the scheme of the URLs it writes


@dataclass(frozen=True)
class ScannedStore:
    """A store to list, the scheme of its URLs, and the deleter (with an inventory) that lists it."""

    store: StoreConfig
    scheme: str
    deleter: Deleter
    inventory: Inventory


def stores_to_scan(
    settings: Settings, pool: DeleterPool, only: str | None
) -> tuple[list[ScannedStore], list[StoreScan]]:
    """The stores with an inventory, and a :class:`StoreScan` naming each one that is not scanned."""
    chosen: list[ScannedStore] = []
    skipped: list[StoreScan] = []
    for store in settings.configured_stores():
        if only is not None and store.label != only:
            continue
        scheme = SCHEMES.get(store.driver, store.driver)
        try:
            deleter = pool.get(scheme, store)
        except LocationBlocked as blocked:
            skipped.append(StoreScan(store.label, store.driver, False, str(blocked)))
            continue
        if not isinstance(deleter, Inventory):
            skipped.append(StoreScan(store.label, store.driver, False, "its deleter offers no inventory"))
            continue
        chosen.append(ScannedStore(store, scheme, deleter, deleter))
    for store, directory in settings.staging_directories():
        if only is not None and store.label != only:
            continue
        if not directory.is_dir():
            skipped.append(StoreScan(store.label, "file", False, f"staging directory {directory} does not exist here"))
            continue
        staging = FileDeleter(store)
        staging.directories, staging.area = [directory], STAGING
        chosen.append(ScannedStore(store, "file", staging, staging))
    return chosen, skipped
