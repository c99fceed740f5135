"""The ``rbd`` deleter: erases the RBD images of Glance's Ceph store, and is honest about clones.

URLs are read as glance_store reads them: ``rbd://<image>`` (one component, taken verbatim: an
image of the store's pool with no snapshot) or ``rbd://<fsid>/<pool>/<image>/<snapshot>`` (four
components, each percent-decoded). Empty components and any other count are refused.

Two deliberate differences from glance_store:

* The fsid must be the cluster's. glance_store never checks it, so a location copied from another
  cluster would delete a same-named image here; it is refused with the reason instead.
* The pool is the URL's, as glance_store does (``loc.pool or self.pool``): an operator who changed
  ``rbd_store_pool`` still has old images in the old pool, and the URL is the only record of where
  they are. It is used only when it exists and the store's user can read it; otherwise the location
  is blocked with the reason (never guessed into the store's pool).

Connection: one ``rados.Rados`` handle per deleter (one store, one run), opened on first use under a
lock and shared by the worker threads, with an I/O context per pool; librados and librbd are
thread-safe and their Python bindings release the GIL. ``client_mount_timeout``,
``rados_mon_op_timeout`` and ``rados_osd_op_timeout`` are all set from ``rados_connect_timeout`` (30 s
when unset or 0; ``Rados.connect(timeout=...)`` is ignored by the bindings). A store found
unreachable stays unreachable for the rest of the run, so the other locations fail at once.
``close()`` shuts the handle down (an open handle can crash the interpreter at exit).

Erase, in order: parse; connect; check the fsid; open the pool; open the image read-only (this
registers no watcher) and read its size, snapshots, children (``list_children2`` on the image head
lists the clones of every snapshot, including those already in the trash namespace) and watchers;
refuse watchers, snapshots the URL does not name, and clones (unless ``rbd_clones=trash`` and clone
v2 is enabled); ask the monitors for ``require_min_compat_client`` (a cheap round trip); stop here in a
dry run. Then, read-write: ``unprotect_snap`` (if protected), ``remove_snap``, ``RBD.remove``; or, for
``trash`` with clones, ``unprotect_snap``, ``remove_snap`` (under clone v2 the snapshot moves to the
trash namespace and disappears with its last clone) and ``RBD.trash_move``. Clones are listed before
anything is touched: under clone v2 Glance's blind sequence unprotects and trashes the snapshot, then
fails on ``RBD.remove`` and leaves a half-deleted image.

Remaining window: with the monitors gone, ``unprotect_snap`` waits for an osdmap forever. The
monitor round trip just before it turns an already-dead monitor into ``BackendUnavailableError``
within ``rados_connect_timeout``; a monitor that dies in the few milliseconds between that answer and
``unprotect_snap`` still hangs that worker until a monitor is back.
"""

from scrubctl.backends.rbd.deleter import RbdDeleter
from scrubctl.backends.rbd.native import BINDINGS_HINT, child_name, clone_v2_enabled, describe, listed
from scrubctl.backends.rbd.urls import RbdUrl, parse_url

__all__ = ["BINDINGS_HINT", "RbdDeleter", "RbdUrl", "child_name", "clone_v2_enabled", "describe", "listed", "parse_url"]
