"""One store's Ceph cluster for a run: the connection, the pools' I/O contexts, the fsid, native
errors in scrubctl's vocabulary, and the read-only look at an image that both the deleter and its
inventory take (see :mod:`scrubctl.backends.rbd` for the connection's rules)."""

from __future__ import annotations

import errno
import json
import logging
import math
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.backends.rbd.native import (
    BINDINGS_HINT,
    Bindings,
    child_name,
    clone_v2_enabled,
    connection_error,
    describe,
    is_permission,
    is_timeout,
    listed,
    load_bindings,
)
from scrubctl.backends.rbd.urls import DEFAULT_POOL, RbdUrl, parse_url
from scrubctl.errors import BackendUnavailableError, ConfigError
from scrubctl.settings.config import StoreConfig

logger = logging.getLogger(__name__)

DEFAULT_CEPH_CONF = "/etc/ceph/ceph.conf"
DEFAULT_TIMEOUT_SECONDS = 30.0


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


class Cluster:
    """The Ceph cluster of one store: one ``rados.Rados`` handle opened on first use under a lock and
    shared by the worker threads, an I/O context per pool, and the store marked down for the rest of
    the run once it does not answer."""

    def __init__(
        self, store: StoreConfig, *, problem: str | None = None, log_options: Mapping[str, str] | None = None
    ) -> None:
        self.store = store
        self.log_options = dict(log_options or {})  # librados' own logging (native.client_log_options)
        self.pool = store.get("rbd_store_pool") or DEFAULT_POOL
        self.user = store.get("rbd_store_user") or None
        self.conf_file = store.get("rbd_store_ceph_conf") or DEFAULT_CEPH_CONF
        self.problem = problem  # a configuration error: every call that needs the cluster says it
        try:
            configured = store.get_float("rados_connect_timeout", 0.0)
        except ConfigError as error:
            configured, self.problem = 0.0, str(error)
        self.timeout = configured if configured > 0 else DEFAULT_TIMEOUT_SECONDS
        self.who = f"client.{self.user}" if self.user else "the default Ceph user"
        self.loaded = load_bindings()
        self._lock = threading.Lock()
        self._handle: Any = None
        self._fsid = ""
        self._ioctxs: dict[str, Any] = {}
        self._down: str | None = None

    @property
    def bindings(self) -> Bindings:
        """The Ceph bindings, or :class:`LocationBlocked` with the install hint."""
        if self.loaded is None:
            raise LocationBlocked(BINDINGS_HINT)
        return self.loaded

    @property
    def fsid(self) -> str:
        """The cluster's fsid (connecting first)."""
        self.connect()
        return self._fsid

    def connect(self) -> Any:
        """The cluster handle, connected on first use; :class:`BackendUnavailableError` when the
        cluster cannot be reached (then for the rest of the run)."""
        bindings = self.bindings
        if self.problem is not None:
            raise BackendUnavailableError(f"store {self.store.label}: {self.problem}")
        with self._lock:
            if self._down is not None:
                raise BackendUnavailableError(self._down)
            if self._handle is None:
                self._handle = self._open(bindings)
                logger.debug("connected to Ceph cluster %s as %s", self._fsid, self.who)
            return self._handle

    def _open(self, bindings: Bindings) -> Any:
        where = f"of store {self.store.label} ({self.conf_file}, {self.who})"
        seconds = str(max(1, math.ceil(self.timeout)))
        timeouts = {"client_mount_timeout": seconds, "rados_mon_op_timeout": seconds, "rados_osd_op_timeout": seconds}
        options = {**timeouts, **self.log_options}
        try:
            handle = bindings.rados.Rados(conffile=self.conf_file, rados_id=self.user, conf=options)
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
        return handle

    def ioctx(self, location: RbdUrl) -> Any:
        """The pool of a location (the store's when the URL names none), after checking that the URL
        names this cluster."""
        handle = self.connect()
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
                raise self.mapped(error, f"opening pool {pool} of store {self.store.label}", store_pool=True) from None
            self._ioctxs[pool] = ioctx
            return ioctx

    def locate(self, url: str) -> tuple[RbdUrl, Any, str]:
        """``(location, I/O context, "pool/image")`` of a URL: parse, connect, check the fsid, open the
        pool; the install hint comes before all that."""
        if self.loaded is None:
            raise LocationBlocked(BINDINGS_HINT)
        location = parse_url(url)
        ioctx = self.ioctx(location)
        return location, ioctx, f"{location.pool or self.pool}/{location.image}"

    def mapped(self, error: BaseException, doing: str, *, store_pool: bool) -> Exception:
        """Turn a native error into scrubctl's vocabulary; a timeout marks the store down for the run."""
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
    def native(self, doing: str, location: RbdUrl) -> Iterator[None]:
        """Map the native errors raised inside the block (specific ones are caught inside it)."""
        bindings = self.bindings
        try:
            yield
        except (bindings.rbd.Error, bindings.rados.Error) as error:
            in_store_pool = (location.pool or self.pool) == self.pool
            raise self.mapped(error, doing, store_pool=in_store_pool) from None

    def min_compat_client(self) -> str | None:
        """``require_min_compat_client``, asked of the monitors; ``BackendUnavailableError`` if they
        do not answer within the timeout. Any answer, even a refusal, proves they are up."""
        handle = self.connect()
        for command in ({"prefix": "osd get-require-min-compat-client"}, {"prefix": "osd dump", "format": "json"}):
            try:
                code, output, status = handle.mon_command(json.dumps(command), b"")
            except self.bindings.rados.Error as error:
                raise self.mapped(error, f"asking the monitors ({command['prefix']})", store_pool=True) from None
            if code == -errno.ETIMEDOUT:
                self._down = f"Ceph store {self.store.label}: the monitors did not answer within {self.timeout:g} s"
                raise BackendUnavailableError(self._down)
            if code == 0 and command["prefix"] == "osd dump":
                return str(json.loads(output).get("require_min_compat_client", "")) or None
            if code == 0:
                return output.decode(errors="replace").strip().strip('"') or None
            logger.debug("mon command %s refused: %s %s", command["prefix"], code, status)
        return None

    def inspect(self, ioctx: Any, location: RbdUrl, spec: str) -> Inspection | None:
        """Look at the image read-only (no watcher registered); ``None`` when it is gone."""
        rbd = self.bindings.rbd
        with self.native(f"reading RBD image {spec}", location):
            try:
                image = rbd.Image(ioctx, location.image, read_only=True)
            except rbd.ImageNotFound:
                return None
            try:
                return _inspection(rbd, image, location.snapshot)
            except rbd.ImageNotFound:
                return None
            finally:
                image.close()

    def reasons(self, found: Inspection, spec: str, *, clones: str) -> list[str]:
        """Everything that forbids erasing the image now, by the ``clones`` policy (``block`` or
        ``trash``) or because something uses it."""
        reasons = []
        if found.watchers:
            reasons.append(f"RBD image {spec} is open by another client (watchers: {listed(found.watchers)})")
        if found.other_snapshots:
            reasons.append(
                f"RBD image {spec} has snapshot(s) its location does not name: {listed(found.other_snapshots)}"
            )
        if found.children:
            described = f"RBD image {spec} has {len(found.children)} clone(s): {listed(found.children)}"
            if clones == "block":
                reasons.append(f"{described}; flatten or remove them, or scrub with --rbd-clones=trash (clone v2)")
            else:
                release = self.min_compat_client()
                if release is None:
                    reasons.append(f"{described}; cannot trash it: clone v2 status unknown (monitors refused osd dump)")
                elif not clone_v2_enabled(release):
                    why = f"clone v2 not enabled: require_min_compat_client is {release}"
                    reasons.append(f"{described}; cannot trash it: {why}")
        return reasons

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


def _inspection(rbd: Any, image: Any, snapshot: str | None) -> Inspection:
    """Size, snapshots (the URL's, and any other), clones and watchers of an open image."""
    snapshots = list(image.list_snaps())
    user, trash = rbd.RBD_SNAP_NAMESPACE_TYPE_USER, rbd.RBD_SNAP_NAMESPACE_TYPE_TRASH
    names = [str(snap["name"]) for snap in snapshots if snap.get("namespace", user) == user]
    exists = snapshot in names
    others = [name for name in names if name != snapshot] + [
        f"{snap['name']} (namespace {snap['namespace']})"
        for snap in snapshots
        if snap.get("namespace", user) not in (user, trash)
    ]
    try:
        protected = exists and bool(image.is_protected_snap(snapshot))
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
