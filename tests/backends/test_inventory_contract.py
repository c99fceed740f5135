"""Every inventory reruns the one contract suite (``scrubctl.testing.inventory_contract``), each
against a real store of its own: files in a temporary directory (SQLite and MariaDB), a pool of its
own on the test Ceph cluster, and a third party's ``memo://`` store that only the protocol and the
``scrubctl.deleters`` entry points tell scrubctl about."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from scrubctl.backends import BUILTIN_DELETERS, DeleterRegistry
from scrubctl.backends.file import FileDeleter
from scrubctl.backends.inventory import Inventory
from scrubctl.backends.rbd import RbdDeleter
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.oslo_syntax import OsloConfig
from scrubctl.testing.inventory_contract import InventoryContract
from tests.orphans.test_orphans_ceph import own_pool, pool  # noqa: F401 - fixtures: a pool of this module's own
from tests.support.ceph import Cluster
from tests.support.memo_store import MemoDeleter


def store_of(section: str, tmp_path: Path, name: str, driver: str) -> StoreConfig:
    """The settings of one multi-store section, read from a real config file."""
    path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.conf"
    path.write_text(section, encoding="utf-8")
    return StoreConfig(name=name, driver=driver, group=name, config=OsloConfig.from_files([path]))


class TestFileInventory(InventoryContract):
    @pytest.fixture
    def database_url(self, database_url: str) -> str:
        return database_url  # SQLite, then MariaDB (tests/conftest.py)

    @pytest.fixture
    def directory(self, tmp_path: Path) -> Path:
        path = tmp_path / "images"
        path.mkdir()
        return path

    @pytest.fixture
    def store_section(self, directory: Path) -> str:
        return f"[fast]\nfilesystem_store_datadir = {directory}\n"

    @pytest.fixture
    def store(self, store_section: str, tmp_path: Path) -> StoreConfig:
        return store_of(store_section, tmp_path, "fast", "file")

    @pytest.fixture
    def inventory(self, store: StoreConfig) -> Inventory:
        return FileDeleter(store)

    @pytest.fixture
    def make_data(self, directory: Path) -> Callable[[str], str]:
        def make(image_id: str) -> str:
            (directory / image_id).write_bytes(b"x" * 4096)
            return f"file://{directory}/{image_id}"

        return make

    @pytest.fixture
    def url_forms(self, directory: Path, tmp_path: Path) -> Callable[[str], list[str]]:
        alias = tmp_path / "alias"
        alias.symlink_to(directory)

        def forms(url: str) -> list[str]:
            name = url.rpartition("/")[2]
            return [
                f"FILE://{directory}/{name}",  # glance_store reads the scheme whatever its case
                f"file://{alias}/{name}",  # a symlinked alias of the data directory
                f"file://{directory}//{name}",
                f"file://{directory}/./{name}",
            ]

        return forms

    @pytest.fixture
    def foreign_urls(self, tmp_path: Path) -> list[str]:
        other = tmp_path / "other"
        other.mkdir()
        return [f"file://{other}/{uuid.uuid4()}", f"file:{tmp_path}/images/{uuid.uuid4()}", "file://relative/x"]


@pytest.fixture
def ceph_pool(request: pytest.FixtureRequest) -> Cluster:
    """This module's own pool on the test cluster, emptied after each test (``pool``)."""
    return cast(Cluster, request.getfixturevalue("pool"))


@pytest.mark.ceph
class TestRbdInventory(InventoryContract):
    @pytest.fixture
    def store_section(self, ceph_pool: Cluster) -> str:
        env = ceph_pool.env
        return (
            f"[ceph]\nrbd_store_pool = {env.pool}\nrbd_store_user = admin\nrbd_store_ceph_conf = {env.conf}\n"
            "rados_connect_timeout = 10\n"
        )

    @pytest.fixture
    def store(self, store_section: str, tmp_path: Path) -> StoreConfig:
        return store_of(store_section, tmp_path, "ceph", "rbd")

    @pytest.fixture
    def inventory(self, store: StoreConfig) -> Any:
        deleter = RbdDeleter(store)
        yield deleter
        deleter.close()

    @pytest.fixture
    def make_data(self, ceph_pool: Cluster) -> Callable[[str], str]:
        return lambda image_id: ceph_pool.url(ceph_pool.glance_image(image_id, size=1024 * 1024))

    @pytest.fixture
    def url_forms(self, ceph_pool: Cluster) -> Callable[[str], list[str]]:
        def forms(url: str) -> list[str]:
            name = url.split("/")[4]
            return [
                f"rbd://{name}",  # the pool is the row's store's
                ceph_pool.url(name, fsid=str(uuid.uuid4())),  # another cluster's fsid still protects it
                ceph_pool.url(name.replace("-", "%2D")),  # percent-encoded, as glance_store decodes it
                url.replace("/snap", "/other-snapshot"),
            ]

        return forms

    @pytest.fixture
    def foreign_urls(self, ceph_pool: Cluster) -> list[str]:
        name = str(uuid.uuid4())
        env = ceph_pool.env
        return [ceph_pool.url(name, pool="images"), f"rbd://{env.fsid}/{env.pool}/{name}", f"file:///{name}"]


class TestMemoInventory(InventoryContract):
    """A third party's store: scrubctl finds it through the entry points only."""

    @pytest.fixture(autouse=True)
    def registered(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Install a distribution declaring the ``memo`` deleter, as ``pip install`` would."""
        site = tmp_path / "site"
        info = site / "memo_store-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: memo-store\nVersion: 1.0\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(
            "[scrubctl.deleters]\nmemo = tests.support.memo_store:MemoDeleter\n", encoding="utf-8"
        )
        monkeypatch.syspath_prepend(str(site))

    @pytest.fixture
    def directory(self, tmp_path: Path) -> Path:
        path = tmp_path / "memo"
        path.mkdir()
        return path

    @pytest.fixture
    def store_section(self, directory: Path) -> str:
        return f"[scratch]\nmemo_directory = {directory}\nmemo_bucket = glance\n"

    @pytest.fixture
    def store(self, store_section: str, tmp_path: Path) -> StoreConfig:
        return store_of(store_section, tmp_path, "scratch", "memo")

    @pytest.fixture
    def inventory(self, store: StoreConfig) -> Inventory:
        deleter = MemoDeleter(store)
        assert isinstance(deleter, Inventory)
        return deleter

    @pytest.fixture
    def make_data(self, directory: Path) -> Callable[[str], str]:
        def make(image_id: str) -> str:
            (directory / image_id).write_bytes(b"m" * 100)
            return f"memo://glance/{image_id}"

        return make

    @pytest.fixture
    def url_forms(self) -> Callable[[str], list[str]]:
        return lambda url: [url.replace("memo://", "MEMO://", 1)]

    @pytest.fixture
    def foreign_urls(self) -> list[str]:
        return [f"memo://another-bucket/{uuid.uuid4()}", "memo://glance", "memo://glance/a/b"]

    def test_found_through_the_entry_points_only(self) -> None:
        assert "memo" not in BUILTIN_DELETERS
        assert DeleterRegistry().schemes["memo"] == "tests.support.memo_store:MemoDeleter"
