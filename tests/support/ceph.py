"""The Ceph tier: the real test cluster named by ``SCRUBCTL_TEST_CEPH_ENV``, and Glance-shaped RBD images.

``scripts/test`` starts the cluster (``scripts/ceph-start``) and exports the path of its ``env`` file.
Tests arrange and inspect the cluster as ``client.admin`` through the real bindings; scrubctl itself
runs as the restricted ``client.glance``, as on a Glance node. Every image a test creates is removed
afterwards (clones first, RBD trash included), and the cluster's ``require_min_compat_client`` is
put back as it was, so the tests do not depend on their order.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tier
from tests.support.world import GlanceWorld

ENV_VARIABLE = "SCRUBCTL_TEST_CEPH_ENV"
IMAGE_BYTES = 4 * 1024 * 1024
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TIMEOUT = 10  # rados_connect_timeout given to scrubctl in these tests


@dataclass(frozen=True)
class CephEnv:
    """What ``scripts/ceph-start`` wrote into ``RUN_DIR/env``."""

    run_dir: Path
    conf: Path
    fsid: str
    pool: str
    user: str
    keyring: Path


def read_env(path: Path) -> CephEnv:
    """Parse the ``KEY=value`` lines of an env file."""
    values = dict(
        line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line and line[0] != "#"
    )
    return CephEnv(
        run_dir=Path(values["CEPH_RUN_DIR"]),
        conf=Path(values["CEPH_CONF"]),
        fsid=values["CEPH_FSID"],
        pool=values["CEPH_POOL"],
        user=values["CEPH_USER"],
        keyring=Path(values["CEPH_GLANCE_KEYRING"]),
    )


def ceph_env() -> CephEnv:
    """The test cluster, or skip (fail when the tier is required) when there is none."""
    name = os.environ.get(ENV_VARIABLE)
    if not name:
        require_tier("ceph", f"{ENV_VARIABLE} is not set (scripts/test starts a cluster and sets it)")
    path = Path(str(name))
    if not path.is_file():
        require_tier("ceph", f"{ENV_VARIABLE}={path} does not exist")
    try:
        import rados  # noqa: F401
        import rbd  # noqa: F401
    except ImportError:
        require_tier("ceph", "python3-rados/python3-rbd are not importable (venv without --system-site-packages?)")
    return read_env(path)


class Cluster:
    """Admin access to the test cluster, to arrange images and assert on what is left."""

    def __init__(self, env: CephEnv) -> None:
        import rados
        import rbd

        self.env = env
        self.rbd: Any = rbd
        self.handle: Any = rados.Rados(
            conffile=str(env.conf),
            rados_id="admin",
            conf={"client_mount_timeout": "30", "rados_mon_op_timeout": "60", "rados_osd_op_timeout": "60"},
        )
        self.handle.connect()
        self.ioctx: Any = self.handle.open_ioctx(env.pool)
        self.created: list[str] = []

    def close(self) -> None:
        """Release the admin connection."""
        self.ioctx.close()
        self.handle.shutdown()

    # -- arranging --------------------------------------------------------------------------

    def glance_image(
        self, image_id: str | None = None, *, size: int = IMAGE_BYTES, snapshot: str | None = "snap"
    ) -> str:
        """An RBD image as Glance writes one: named by the image id, data written, ``snap`` protected."""
        name = image_id or str(uuid.uuid4())
        self.rbd.RBD().create(self.ioctx, name, size, old_format=False, order=23)
        self.created.append(name)
        with self.rbd.Image(self.ioctx, name) as image:
            image.write(os.urandom(1024) * (size // 1024), 0)
            if snapshot is not None:
                image.create_snap(snapshot)
                image.protect_snap(snapshot)
        return name

    def clone(self, parent: str, snapshot: str = "snap") -> str:
        """A copy-on-write clone of ``parent@snapshot`` (v1 or v2, as the cluster's default says)."""
        child = f"clone-{uuid.uuid4().hex[:12]}"
        self.rbd.RBD().clone(self.ioctx, parent, snapshot, self.ioctx, child)
        self.created.append(child)
        return child

    def flatten(self, name: str) -> None:
        """Copy the parent's data into a clone, detaching it."""
        with self.rbd.Image(self.ioctx, name) as image:
            image.flatten()

    def remove(self, name: str) -> None:
        """Remove an image without snapshots (a clone)."""
        self.rbd.RBD().remove(self.ioctx, name)

    def trash_move(self, name: str) -> None:
        """Move an image to the RBD trash."""
        self.rbd.RBD().trash_move(self.ioctx, name, 0)

    def trash_remove(self, name: str) -> None:
        """Remove an image from the RBD trash, by name."""
        for entry in self.rbd.RBD().trash_list(self.ioctx):
            if entry["name"] == name:
                self.rbd.RBD().trash_remove(self.ioctx, entry["id"], True)

    def url(self, name: str, *, fsid: str | None = None, pool: str | None = None) -> str:
        """The location URL Glance writes for an image."""
        return f"rbd://{fsid or self.env.fsid}/{pool or self.env.pool}/{name}/snap"

    def row(self, world: GlanceWorld, url: str | None = None, *, image_id: str | None = None) -> str:
        """Rows of a Glance image deleted a day ago (single-store, no ``store`` key) pointing at ``url``
        (default: the image's own RBD image, which must exist)."""
        image_id = image_id or str(uuid.uuid4())
        world.image(
            image_id=image_id, urls=[url or self.url(image_id)], stores=[None], write_files=False, size=IMAGE_BYTES
        )
        return image_id

    def glance(self, world: GlanceWorld) -> str:
        """A deleted Glance image: its RBD image with protected ``snap``, and its pending_delete rows."""
        return self.row(world, image_id=self.glance_image())

    # -- inspecting -------------------------------------------------------------------------

    def names(self) -> set[str]:
        """The images ``rbd ls`` lists."""
        return set(self.rbd.RBD().list(self.ioctx))

    def trash_names(self) -> set[str]:
        """The images ``rbd trash ls`` lists."""
        return {entry["name"] for entry in self.rbd.RBD().trash_list(self.ioctx)}

    def snapshots(self, name: str) -> list[tuple[str, int, bool]]:
        """``(name, namespace, protected)`` of every snapshot of an image (trash namespace included)."""
        with self.rbd.Image(self.ioctx, name, read_only=True) as image:
            return [
                (snap["name"], snap["namespace"], snap["namespace"] == 0 and image.is_protected_snap(snap["name"]))
                for snap in image.list_snaps()
            ]

    def pool_state(self) -> dict[str, list[tuple[str, int, bool]]]:
        """Every image of the pool with its snapshots, and the trash (for before/after comparisons)."""
        state = {name: self.snapshots(name) for name in sorted(self.names())}
        state["<trash>"] = [(name, -1, False) for name in sorted(self.trash_names())]
        return state

    def watchers(self, name: str) -> list[str]:
        """The addresses watching an image."""
        with self.rbd.Image(self.ioctx, name, read_only=True) as image:
            return [watcher["addr"] for watcher in image.watchers_list()]

    def read(self, name: str, length: int = 4096) -> bytes:
        """The first bytes of an image."""
        with self.rbd.Image(self.ioctx, name, read_only=True) as image:
            return bytes(image.read(0, length))

    # -- the cluster ------------------------------------------------------------------------

    def ceph(self, *args: str) -> str:
        """Run the ``ceph`` CLI as client.admin."""
        done = subprocess.run(
            ["ceph", "--conf", str(self.env.conf), *args], capture_output=True, text=True, check=True, timeout=120
        )
        return done.stdout.strip()

    def min_compat_client(self) -> str:
        """The cluster's ``require_min_compat_client``."""
        return self.ceph("osd", "get-require-min-compat-client")

    def set_min_compat_client(self, release: str) -> None:
        """``luminous``: clones are v1; ``mimic``: new clones are v2."""
        self.ceph("osd", "set-require-min-compat-client", release, "--yes-i-really-mean-it")

    def cleanup(self) -> None:
        """Remove every image a test created: clones first, then parents, from the pool and the trash."""
        errors: list[str] = []
        for name in sorted(self.created, key=lambda name: not name.startswith("clone-")):
            try:
                self._purge(name)
            except Exception as error:  # noqa: BLE001 - report them all at the end
                errors.append(f"{name}: {error!r}")
        self.created.clear()
        assert not errors, f"cleanup failed: {errors}"

    def _purge(self, name: str) -> None:
        rbd = self.rbd
        if name in self.trash_names():
            self.trash_remove(name)
            return
        try:
            image = rbd.Image(self.ioctx, name)
        except rbd.ImageNotFound:  # gone, or the listed remains of a removal that was killed
            with contextlib.suppress(rbd.ImageNotFound):
                rbd.RBD().remove(self.ioctx, name)
            return
        with image:
            for snap in list(image.list_snaps()):
                if snap["namespace"] != 0:
                    continue
                if image.is_protected_snap(snap["name"]):
                    image.unprotect_snap(snap["name"])
                image.remove_snap(snap["name"])
        for attempt in range(60):
            try:
                rbd.RBD().remove(self.ioctx, name)
                return
            except rbd.ImageNotFound:
                return
            except rbd.ImageBusy:  # a watcher from a killed holder lingers for up to 30 s
                if attempt == 59:
                    raise
                time.sleep(1)


def store_config(env: CephEnv, *, user: str | None = None, conf: Path | None = None, timeout: int = TIMEOUT) -> str:
    """A ``[glance_store]`` section for the rbd store (merged with the world's own ``[glance_store]``)."""
    return (
        "\n[glance_store]\n"
        f"rbd_store_pool = {env.pool}\n"
        f"rbd_store_user = {user or env.user}\n"
        f"rbd_store_ceph_conf = {conf or env.conf}\n"
        f"rados_connect_timeout = {timeout}\n"
    )


# Fixtures, registered under their ``name``: a test module imports the ``*_fixture`` functions
# (``from tests.support.ceph import ceph_fixture, ...``) and its tests take ``ceph``, ``rbd_world``...


@pytest.fixture(scope="session", name="ceph_session")
def ceph_session_fixture() -> Iterator[Cluster]:
    """One admin connection for the whole session."""
    cluster = Cluster(ceph_env())
    yield cluster
    cluster.close()


@pytest.fixture(name="ceph")
def ceph_fixture(ceph_session: Cluster) -> Iterator[Cluster]:
    """The cluster for one test; the images it creates are removed afterwards."""
    try:
        yield ceph_session
    finally:
        ceph_session.cleanup()


@pytest.fixture(name="rbd_world")
def rbd_world_fixture(world: GlanceWorld, ceph: Cluster) -> GlanceWorld:
    """A Glance world (SQLite, then MariaDB) whose ``[glance_store]`` is the test cluster's rbd store."""
    world.extra_config = store_config(ceph.env)
    return world


@pytest.fixture(name="compat_client")
def compat_client_fixture(ceph: Cluster) -> Iterator[Callable[[str], None]]:
    """Set ``require_min_compat_client`` for one test; it is put back afterwards."""
    original = ceph.min_compat_client()
    try:
        yield ceph.set_min_compat_client
    finally:
        ceph.cleanup()  # v2 clones go before the setting does
        if ceph.min_compat_client() != original:
            ceph.set_min_compat_client(original)


@contextmanager
def held_open(env: CephEnv, name: str) -> Iterator[None]:
    """Another process holding the image open read-write (a watcher) until the block ends."""
    script = (
        "import sys, rados, rbd\n"
        f"c = rados.Rados(conffile={str(env.conf)!r}, rados_id='admin')\n"
        "c.connect(); io = c.open_ioctx(sys.argv[1]); image = rbd.Image(io, sys.argv[2])\n"
        "print('ready', flush=True); sys.stdin.read()\n"
        "image.close(); io.close(); c.shutdown()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, env.pool, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield
    finally:
        with suppress(Exception):
            assert process.stdin is not None
            process.stdin.close()
        process.wait(timeout=60)


@contextmanager
def stopped_monitor(env: CephEnv) -> Iterator[None]:
    """The cluster's monitor stopped for the block, then the cluster started again (and ready)."""
    subprocess.run([str(SCRIPTS / "ceph-stop"), str(env.run_dir), "mon"], check=True, timeout=120)
    try:
        yield
    finally:
        subprocess.run([str(SCRIPTS / "ceph-start"), str(env.run_dir)], check=True, timeout=300)
