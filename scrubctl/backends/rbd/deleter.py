"""The RBD deleter itself: one Ceph connection per store (:mod:`~scrubctl.backends.rbd.cluster`), look
before touching, then erase."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed, ProgressCallback
from scrubctl.backends.rbd.cluster import Cluster, Inspection
from scrubctl.backends.rbd.inventory import RbdInventory
from scrubctl.backends.rbd.native import BINDINGS_HINT, client_log_options, clone_v2_enabled, objects_progress
from scrubctl.backends.rbd.urls import RbdUrl
from scrubctl.errors import BackendUnavailableError
from scrubctl.settings.config import StoreConfig

logger = logging.getLogger(__name__)

CLONE_POLICIES = ("block", "trash")


class RbdDeleter(RbdInventory):
    """Erases the RBD images behind the locations of one Ceph store (see the module docstring); lists
    it as its :class:`~scrubctl.backends.rbd.inventory.RbdInventory`."""

    reports_progress = True  # erase() passes librbd's removal progress on

    def __init__(self, store: StoreConfig, options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.clones = (options or {}).get("rbd_clones", "block")
        problem = None
        if self.clones not in CLONE_POLICIES:
            problem = f"unknown rbd_clones policy {self.clones!r} (block or trash)"
        self.cluster = Cluster(store, problem=problem, log_options=client_log_options(options or {}))
        self.pool = self.cluster.pool

    # -- the Deleter protocol -----------------------------------------------------------------

    def erase(self, url: str, *, dry_run: bool, progress: ProgressCallback | None = None) -> EraseResult:
        """Remove the image and its snapshot, or move a cloned image to the RBD trash (``rbd_clones=trash``);
        ``progress`` hears librbd's count of the image's objects removed."""
        location, ioctx, spec = self.cluster.locate(url)
        found = self.cluster.inspect(ioctx, location, spec)
        if found is None:
            gone = f"RBD image {spec} already gone"
            if not dry_run and self._remove_remains(ioctx, location, spec):
                gone += " (removed the directory entry and header an interrupted removal had left)"
            return EraseResult(EraseOutcome.ALREADY_GONE, gone, 0)
        reasons = self.cluster.reasons(found, spec, clones=self.clones)
        if reasons:
            raise LocationBlocked("; ".join(reasons))
        if found.snapshot_exists and not found.children:  # with clones, reasons() asked them already
            self.cluster.min_compat_client()  # the monitors answer: unprotect_snap will not hang on them
        remain = len(found.children)
        trash_detail = f"moved to RBD trash, {remain} clone{'s remain' if remain != 1 else ' remains'}"
        if dry_run:
            detail = f"would be {trash_detail}" if found.children else f"would remove RBD image {spec}"
            return EraseResult(EraseOutcome.WOULD_ERASE, detail, found.size)
        if found.snapshot_exists:
            self._drop_snapshot(ioctx, location, found, spec)
        rbd = self.cluster.bindings.rbd
        with self.cluster.native(f"removing RBD image {spec}", location):
            try:
                if found.children:
                    rbd.RBD().trash_move(ioctx, location.image, 0)
                else:
                    on_progress = objects_progress(progress, found.size)
                    if on_progress is None:
                        rbd.RBD().remove(ioctx, location.image)
                    else:
                        rbd.RBD().remove(ioctx, location.image, on_progress=on_progress)
            except rbd.ImageNotFound:
                return EraseResult(EraseOutcome.ALREADY_GONE, f"RBD image {spec} already gone", 0)
            except rbd.ImageBusy:
                raise LocationBlocked(f"RBD image {spec} is in use (opened by a client since it was checked)") from None
            except rbd.ImageHasSnapshots:
                raise LocationBlocked(
                    f"RBD image {spec} still has snapshots (a clone or snapshot appeared during the run); image kept"
                ) from None
        if found.children:
            return EraseResult(EraseOutcome.TRASHED, f"{trash_detail} (trash id {found.rbd_id})", found.size)
        return EraseResult(EraseOutcome.ERASED, f"removed RBD image {spec} and its snapshot", found.size)

    def _remove_remains(self, ioctx: Any, location: RbdUrl, spec: str) -> bool:
        """Finish the removal of an image that cannot be opened but may still be listed: a removal
        killed after its data and its name object went leaves the pool directory's entry and the
        header, which ``rbd ls`` shows. Returns whether there was anything to remove."""
        rbd = self.cluster.bindings.rbd
        with self.cluster.native(f"removing what is left of RBD image {spec}", location):
            try:
                rbd.RBD().remove(ioctx, location.image)
            except rbd.ImageNotFound:
                return False
            except rbd.ImageBusy:
                raise LocationBlocked(
                    f"RBD image {spec}: its data is gone but its removal was interrupted, and a client still "
                    "watches it (the watch of a killed client lingers for up to 30 s); the next run finishes it"
                ) from None
        return True

    def _drop_snapshot(self, ioctx: Any, location: RbdUrl, found: Inspection, spec: str) -> None:
        """Unprotect (if protected) and remove the URL's snapshot; a snapshot already gone is fine."""
        rbd, snapshot = self.cluster.bindings.rbd, f"{spec}@{location.snapshot}"
        with self.cluster.native(f"removing snapshot {snapshot}", location):
            try:
                image = rbd.Image(ioctx, location.image)
            except rbd.ImageNotFound:
                return
            try:
                if found.snapshot_protected:
                    image.unprotect_snap(location.snapshot)
                image.remove_snap(location.snapshot)
            except rbd.ImageNotFound:
                logger.debug("snapshot %s already gone", snapshot)
            except rbd.ImageBusy:
                kind = "format 1 clones need it protected" if found.children else "a clone appeared since the check"
                raise LocationBlocked(f"snapshot {snapshot} is in use ({kind}); image kept") from None
            finally:
                image.close()

    def exists(self, url: str) -> bool:
        """Whether the image and, for the four-component form, its snapshot are both there."""
        location, ioctx, spec = self.cluster.locate(url)
        found = self.cluster.inspect(ioctx, location, spec)
        return found is not None and (location.snapshot is None or found.snapshot_exists)

    def blockers(self, url: str) -> list[str]:
        """Clones, watchers, extra snapshots, or a URL this store must not touch; changes nothing."""
        if self.cluster.loaded is None:
            raise LocationBlocked(BINDINGS_HINT)
        try:
            location, ioctx, spec = self.cluster.locate(url)
            found = self.cluster.inspect(ioctx, location, spec)
            return [] if found is None else self.cluster.reasons(found, spec, clones=self.clones)
        except (LocationBlocked, LocationFailed) as problem:
            return [str(problem)]

    def check(self) -> list[str]:
        """Connect, open the store's pool and list it as the configured user; report clone v2 as info."""
        if self.cluster.loaded is None:
            return [BINDINGS_HINT]
        location = RbdUrl(image="", pool=self.pool)
        try:
            ioctx = self.cluster.ioctx(location)
            with self.cluster.native(f"listing pool {self.pool}", location):
                count = len(self.cluster.bindings.rbd.RBD().list(ioctx))
            release = self.cluster.min_compat_client()
        except (BackendUnavailableError, LocationBlocked, LocationFailed) as problem:
            return [str(problem)]
        clone_v2 = "enabled" if release and clone_v2_enabled(release) else "not enabled"
        where = f"cluster {self.cluster.fsid}, pool {self.pool} ({count} images) as {self.cluster.who}"
        clones = f"clone v2 {clone_v2} (require_min_compat_client {release or 'unknown'})"
        logger.info("store %s: %s; %s", self.store.label, where, clones)
        return []

    def close(self) -> None:
        """Close the pools and shut the cluster handle down."""
        self.cluster.close()
