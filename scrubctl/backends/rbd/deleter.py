"""The RBD deleter itself: one Ceph connection per store, look before touching, then erase."""

from __future__ import annotations

import errno
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from scrubctl.backends.base import (
    EraseOutcome,
    EraseProgress,
    EraseResult,
    LocationBlocked,
    LocationFailed,
    ProgressCallback,
)
from scrubctl.backends.inventory import Examined, StoredPiece
from scrubctl.backends.rbd import inventory
from scrubctl.backends.rbd.native import (
    BINDINGS_HINT,
    Bindings,
    child_name,
    client_log_options,
    clone_v2_enabled,
    connection_error,
    describe,
    is_permission,
    is_timeout,
    listed,
    load_bindings,
)
from scrubctl.backends.rbd.urls import RbdUrl, parse_url
from scrubctl.errors import BackendUnavailableError, ConfigError
from scrubctl.settings.config import StoreConfig

logger = logging.getLogger(__name__)

DEFAULT_POOL = "images"
DEFAULT_CEPH_CONF = "/etc/ceph/ceph.conf"
DEFAULT_TIMEOUT_SECONDS = 30.0
CLONE_POLICIES = ("block", "trash")


@dataclass(frozen=True)
class Inspection:
    """What a read-only look at an image found."""

    rbd_id: str
    size: int
    snapshot_exists: bool
    snapshot_protected: bool
    other_snapshots: tuple[str, ...]
    children: tuple[str, ...]
    watchers: tuple[str, ...]


def _objects_progress(progress: ProgressCallback | None, size: int) -> Callable[[int, int], int] | None:
    """librbd's ``on_progress(done, total)`` (objects removed, from librbd's threads) as scrubctl's
    progress, with the bytes those objects held in proportion."""
    if progress is None:
        return None

    def report(done: int, total: int) -> int:
        progress(EraseProgress(done, total, "objects", size * done // total if total else None))
        return 0  # librbd: go on

    return report


class RbdDeleter:
    """Erases the RBD images behind the locations of one Ceph store (see the module docstring)."""

    reports_progress = True  # erase() passes librbd's removal progress on

    def __init__(self, store: StoreConfig, options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.pool = store.get("rbd_store_pool") or DEFAULT_POOL
        self.user = store.get("rbd_store_user") or None
        self.conf_file = store.get("rbd_store_ceph_conf") or DEFAULT_CEPH_CONF
        self.clones = (options or {}).get("rbd_clones", "block")
        self._log_options = client_log_options(options or {})
        self._problem: str | None = None
        try:
            configured = store.get_float("rados_connect_timeout", 0.0)
        except ConfigError as error:
            configured, self._problem = 0.0, str(error)
        self.timeout = configured if configured > 0 else DEFAULT_TIMEOUT_SECONDS
        if self.clones not in CLONE_POLICIES:
            self._problem = f"unknown rbd_clones policy {self.clones!r} (block or trash)"
        self.who = f"client.{self.user}" if self.user else "the default Ceph user"
        self._bindings = load_bindings()
        self._lock = threading.Lock()
        self._handle: Any = None
        self._fsid = ""
        self._ioctxs: dict[str, Any] = {}
        self._down: str | None = None

    # -- connection ---------------------------------------------------------------------------

    @property
    def bindings(self) -> Bindings:
        """The Ceph bindings, or :class:`LocationBlocked` with the install hint."""
        if self._bindings is None:
            raise LocationBlocked(BINDINGS_HINT)
        return self._bindings

    def _client_options(self) -> dict[str, str]:
        seconds = str(max(1, math.ceil(self.timeout)))
        timeouts = {"client_mount_timeout": seconds, "rados_mon_op_timeout": seconds, "rados_osd_op_timeout": seconds}
        return {**timeouts, **self._log_options}

    def _connect(self) -> Any:
        bindings = self.bindings
        if self._problem is not None:
            raise BackendUnavailableError(f"store {self.store.label}: {self._problem}")
        with self._lock:
            if self._down is not None:
                raise BackendUnavailableError(self._down)
            if self._handle is None:
                where = f"of store {self.store.label} ({self.conf_file}, {self.who})"
                try:
                    handle = bindings.rados.Rados(
                        conffile=self.conf_file, rados_id=self.user, conf=self._client_options()
                    )
                except bindings.rados.Error as error:
                    self._down = str(connection_error(error, bindings, where=where, timeout=self.timeout))
                    raise BackendUnavailableError(self._down) from None
                try:
                    handle.connect()
                    self._fsid = str(handle.get_fsid())
                except bindings.rados.Error as error:
                    handle.shutdown()
                    self._down = str(connection_error(error, bindings, where=where, timeout=self.timeout))
                    raise BackendUnavailableError(self._down) from None
                self._handle = handle
                logger.debug("connected to Ceph cluster %s as %s", self._fsid, self.who)
            return self._handle

    def _ioctx(self, location: RbdUrl) -> Any:
        """The pool of a location, after checking that the URL names this cluster."""
        handle = self._connect()
        if location.fsid is not None and location.fsid != self._fsid:
            raise LocationBlocked(
                f"URL names Ceph cluster {location.fsid}, but store {self.store.label} is cluster {self._fsid}"
            )
        pool = location.pool or self.pool
        with self._lock:
            if pool in self._ioctxs:
                return self._ioctxs[pool]
            try:
                ioctx = handle.open_ioctx(pool)
            except self.bindings.rados.Error as error:
                if pool != self.pool and isinstance(error, self.bindings.rados.ObjectNotFound):
                    raise LocationBlocked(f"pool {pool} named by the URL does not exist in this cluster") from None
                raise self._mapped(error, f"opening pool {pool} of store {self.store.label}", store_pool=True) from None
            self._ioctxs[pool] = ioctx
            return ioctx

    def _mapped(self, error: BaseException, doing: str, *, store_pool: bool) -> Exception:
        """Turn a native error into our vocabulary; a timeout marks the store down for the run."""
        if is_timeout(error, self.bindings):
            self._down = (
                f"Ceph store {self.store.label}: {doing}: no answer within {self.timeout:g} s ({describe(error)})"
            )
            return BackendUnavailableError(self._down)
        if is_permission(error):
            if store_pool:
                return BackendUnavailableError(f"{doing}: {self.who} lacks the rights ({describe(error)})")
            return LocationBlocked(f"{doing}: not readable by {self.who} ({describe(error)})")
        if store_pool and isinstance(error, self.bindings.rados.ObjectNotFound):
            return BackendUnavailableError(f"{doing}: {describe(error)}")
        return LocationFailed(f"{doing} failed: {describe(error)}")

    @contextmanager
    def _native(self, doing: str, location: RbdUrl) -> Iterator[None]:
        """Map the native errors raised inside the block (specific ones are caught inside it)."""
        bindings = self.bindings
        try:
            yield
        except (bindings.rbd.Error, bindings.rados.Error) as error:
            in_store_pool = (location.pool or self.pool) == self.pool
            raise self._mapped(error, doing, store_pool=in_store_pool) from None

    def _min_compat_client(self) -> str | None:
        """``require_min_compat_client``, asked of the monitors; ``BackendUnavailableError`` if they
        do not answer within the timeout. Any answer, even a refusal, proves they are up."""
        handle = self._connect()
        for command in ({"prefix": "osd get-require-min-compat-client"}, {"prefix": "osd dump", "format": "json"}):
            try:
                code, output, status = handle.mon_command(json.dumps(command), b"")
            except self.bindings.rados.Error as error:
                raise self._mapped(error, f"asking the monitors ({command['prefix']})", store_pool=True) from None
            if code == -errno.ETIMEDOUT:
                self._down = f"Ceph store {self.store.label}: the monitors did not answer within {self.timeout:g} s"
                raise BackendUnavailableError(self._down)
            if code == 0 and command["prefix"] == "osd dump":
                return str(json.loads(output).get("require_min_compat_client", "")) or None
            if code == 0:
                return output.decode(errors="replace").strip().strip('"') or None
            logger.debug("mon command %s refused: %s %s", command["prefix"], code, status)
        return None

    # -- reading ------------------------------------------------------------------------------

    def _inspect(self, ioctx: Any, location: RbdUrl, spec: str) -> Inspection | None:
        """Look at the image read-only (no watcher registered); ``None`` when it is gone."""
        rbd = self.bindings.rbd
        with self._native(f"reading RBD image {spec}", location):
            try:
                image = rbd.Image(ioctx, location.image, read_only=True)
            except rbd.ImageNotFound:
                return None
            try:
                snapshots = list(image.list_snaps())
                user, trash = rbd.RBD_SNAP_NAMESPACE_TYPE_USER, rbd.RBD_SNAP_NAMESPACE_TYPE_TRASH
                names = [str(snap["name"]) for snap in snapshots if snap.get("namespace", user) == user]
                exists = location.snapshot in names
                others = [name for name in names if name != location.snapshot] + [
                    f"{snap['name']} (namespace {snap['namespace']})"
                    for snap in snapshots
                    if snap.get("namespace", user) not in (user, trash)
                ]
                try:
                    protected = exists and bool(image.is_protected_snap(location.snapshot))
                except rbd.ImageNotFound:
                    exists = protected = False
                return Inspection(
                    rbd_id=str(image.id()),
                    size=int(image.size()),
                    snapshot_exists=exists,
                    snapshot_protected=protected,
                    other_snapshots=tuple(others),
                    children=tuple(sorted(child_name(child) for child in image.list_children2())),
                    watchers=tuple(str(watcher["addr"]) for watcher in image.watchers_list()),
                )
            except rbd.ImageNotFound:
                return None
            finally:
                image.close()

    def _reasons(self, found: Inspection, location: RbdUrl, spec: str) -> list[str]:
        """Everything that forbids erasing the image now, by policy or because something uses it."""
        reasons = []
        if found.watchers:
            reasons.append(f"RBD image {spec} is open by another client (watchers: {listed(found.watchers)})")
        if found.other_snapshots:
            reasons.append(
                f"RBD image {spec} has snapshot(s) its location does not name: {listed(found.other_snapshots)}"
            )
        if found.children:
            clones = f"RBD image {spec} has {len(found.children)} clone(s): {listed(found.children)}"
            if self.clones == "block":
                reasons.append(f"{clones}; flatten or remove them, or scrub with --rbd-clones=trash (clone v2)")
            else:
                release = self._min_compat_client()
                if release is None:
                    reasons.append(f"{clones}; cannot trash it: clone v2 status unknown (monitors refused osd dump)")
                elif not clone_v2_enabled(release):
                    why = f"clone v2 not enabled: require_min_compat_client is {release}"
                    reasons.append(f"{clones}; cannot trash it: {why}")
        return reasons

    def _locate(self, url: str) -> tuple[RbdUrl, Any, str]:
        """Parse, connect, check the fsid and open the pool; the install hint comes before all that."""
        if self._bindings is None:
            raise LocationBlocked(BINDINGS_HINT)
        location = parse_url(url)
        ioctx = self._ioctx(location)
        return location, ioctx, f"{location.pool or self.pool}/{location.image}"

    # -- the Deleter protocol -----------------------------------------------------------------

    def erase(self, url: str, *, dry_run: bool, progress: ProgressCallback | None = None) -> EraseResult:
        """Remove the image and its snapshot, or move a cloned image to the RBD trash (``rbd_clones=trash``);
        ``progress`` hears librbd's count of the image's objects removed."""
        location, ioctx, spec = self._locate(url)
        found = self._inspect(ioctx, location, spec)
        if found is None:
            gone = f"RBD image {spec} already gone"
            if not dry_run and self._remove_remains(ioctx, location, spec):
                gone += " (removed the directory entry and header an interrupted removal had left)"
            return EraseResult(EraseOutcome.ALREADY_GONE, gone, 0)
        reasons = self._reasons(found, location, spec)
        if reasons:
            raise LocationBlocked("; ".join(reasons))
        if found.snapshot_exists and not found.children:  # with clones, _reasons asked them already
            self._min_compat_client()  # the monitors answer: unprotect_snap will not hang on them
        remain = len(found.children)
        trash_detail = f"moved to RBD trash, {remain} clone{'s remain' if remain != 1 else ' remains'}"
        if dry_run:
            detail = f"would be {trash_detail}" if found.children else f"would remove RBD image {spec}"
            return EraseResult(EraseOutcome.WOULD_ERASE, detail, found.size)
        if found.snapshot_exists:
            self._drop_snapshot(ioctx, location, found, spec)
        rbd = self.bindings.rbd
        with self._native(f"removing RBD image {spec}", location):
            try:
                if found.children:
                    rbd.RBD().trash_move(ioctx, location.image, 0)
                else:
                    on_progress = _objects_progress(progress, found.size)
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
        rbd = self.bindings.rbd
        with self._native(f"removing what is left of RBD image {spec}", location):
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
        rbd, snapshot = self.bindings.rbd, f"{spec}@{location.snapshot}"
        with self._native(f"removing snapshot {snapshot}", location):
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
        location, ioctx, spec = self._locate(url)
        found = self._inspect(ioctx, location, spec)
        return found is not None and (location.snapshot is None or found.snapshot_exists)

    def blockers(self, url: str) -> list[str]:
        """Clones, watchers, extra snapshots, or a URL this store must not touch; changes nothing."""
        if self._bindings is None:
            raise LocationBlocked(BINDINGS_HINT)
        try:
            location, ioctx, spec = self._locate(url)
            found = self._inspect(ioctx, location, spec)
            return [] if found is None else self._reasons(found, location, spec)
        except (LocationBlocked, LocationFailed) as problem:
            return [str(problem)]

    def check(self) -> list[str]:
        """Connect, open the store's pool and list it as the configured user; report clone v2 as info."""
        if self._bindings is None:
            return [BINDINGS_HINT]
        location = RbdUrl(image="", pool=self.pool)
        try:
            ioctx = self._ioctx(location)
            with self._native(f"listing pool {self.pool}", location):
                count = len(self.bindings.rbd.RBD().list(ioctx))
            release = self._min_compat_client()
        except (BackendUnavailableError, LocationBlocked, LocationFailed) as problem:
            return [str(problem)]
        clone_v2 = "enabled" if release and clone_v2_enabled(release) else "not enabled"
        where = f"cluster {self._fsid}, pool {self.pool} ({count} images) as {self.who}"
        clones = f"clone v2 {clone_v2} (require_min_compat_client {release or 'unknown'})"
        logger.info("store %s: %s; %s", self.store.label, where, clones)
        return []

    def close(self) -> None:
        """Close the pools and shut the cluster handle down."""
        with self._lock:
            for ioctx in self._ioctxs.values():
                try:
                    ioctx.close()
                except Exception:  # closing must reach shutdown
                    logger.debug("closing an I/O context failed", exc_info=True)
            self._ioctxs.clear()
            if self._handle is not None:
                self._handle.shutdown()
                self._handle = None

    # -- the optional Inventory (scrubctl.backends.inventory) ----------------------------------

    def inventory(self) -> Iterator[StoredPiece]:
        """Every image of the store's pool and of its RBD trash (one call each)."""
        if self._bindings is None:
            raise LocationBlocked(BINDINGS_HINT)
        return inventory.list_pool(self)

    def examine(self, piece: StoredPiece) -> Examined:
        """A read-only look at one listed image: size, age, ``snap`` present, what blocks removing it."""
        return inventory.examine(self, piece)

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        """Erase a listed image as :meth:`erase` does, or a trash entry no clone keeps."""
        return inventory.erase_piece(self, piece, dry_run=dry_run)

    def scope(self) -> tuple[str, ...]:
        """``rbd:<pool>/``: the store's pool (images in other pools are not listed)."""
        return (f"rbd:{self.pool}/",)

    def read_chunks(self, url: str) -> Iterator[bytes]:
        """Read the image at the URL's snapshot from its start."""
        return inventory.read_chunks(self, url)
