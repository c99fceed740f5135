"""Every built-in deleter reruns the one contract suite (``scrubctl.testing.deleter_contract``),
each against a real store: files in a temporary directory, the test Ceph cluster, its radosgw."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scrubctl.backends.base import Deleter
from scrubctl.backends.file import FileDeleter
from scrubctl.backends.rbd import RbdDeleter
from scrubctl.backends.s3 import S3Deleter
from scrubctl.backends.swift import SwiftDeleter
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.oslo_syntax import OsloConfig
from scrubctl.testing.deleter_contract import DeleterContract
from tests.support.ceph import Cluster
from tests.support.rgw import (  # the *_fixture imports register the fixtures rgw, s3, swift
    RgwEnv,
    S3Side,
    SwiftSide,
    dead_endpoint,
    s3_store_section,
    silent_endpoint,
    swift_store_section,
)


def store_from(text: str, tmp_path: Path, name: str, driver: str) -> StoreConfig:
    """The settings of one multi-store section, read from a real config file."""
    path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.conf"
    path.write_text(text, encoding="utf-8")
    return StoreConfig(name=name, driver=driver, group=name, config=OsloConfig.from_files([path]))


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Close every deleter a test made."""
    made: list[Any] = []
    yield lambda deleter: made.append(deleter) or deleter
    for deleter in made:
        deleter.close()


class TestFileDeleter(DeleterContract):
    @pytest.fixture
    def timeout(self) -> float:
        return 1.0

    @pytest.fixture
    def deleter(self, tmp_path: Path) -> Deleter:
        (tmp_path / "images").mkdir()
        return FileDeleter(
            store_from(f"[fast]\nfilesystem_store_datadir = {tmp_path}/images\n", tmp_path, "fast", "file")
        )

    @pytest.fixture
    def make_data(self, tmp_path: Path) -> Callable[[], str]:
        def make() -> str:
            path = tmp_path / "images" / str(uuid.uuid4())
            path.write_bytes(b"x" * 4096)
            return f"file://{path}"

        return make

    @pytest.fixture
    def foreign_url(self, tmp_path: Path) -> str:
        other = tmp_path / "other"
        other.mkdir()
        (other / "image").write_bytes(b"y")
        return f"file://{other}/image"

    @pytest.fixture
    def unreachable(self, tmp_path: Path) -> tuple[Deleter, str]:
        gone = tmp_path / "unmounted"
        store = store_from(f"[nfs]\nfilesystem_store_datadir = {gone}\n", tmp_path, "nfs", "file")
        return FileDeleter(store), f"file://{gone}/{uuid.uuid4()}"


@pytest.mark.ceph
class TestRbdDeleter(DeleterContract):
    @pytest.fixture
    def timeout(self) -> float:
        return 3.0

    @pytest.fixture
    def deleter(self, ceph: Cluster, tmp_path: Path, closing: Callable[[Any], Any]) -> Deleter:
        env = ceph.env
        section = (
            f"[ceph]\nrbd_store_pool = {env.pool}\nrbd_store_user = {env.user}\nrbd_store_ceph_conf = {env.conf}\n"
        )
        return closing(RbdDeleter(store_from(section + "rados_connect_timeout = 10\n", tmp_path, "ceph", "rbd")))

    @pytest.fixture
    def make_data(self, ceph: Cluster) -> Callable[[], str]:
        return lambda: ceph.url(ceph.glance_image(size=1024 * 1024))

    @pytest.fixture
    def foreign_url(self, ceph: Cluster) -> str:
        return ceph.url(ceph.glance_image(size=1024 * 1024), fsid=str(uuid.uuid4()))

    @pytest.fixture
    def unreachable(
        self, ceph: Cluster, tmp_path: Path, timeout: float, closing: Callable[[Any], Any]
    ) -> tuple[Deleter, str]:
        conf = tmp_path / "dead.conf"
        conf.write_text(
            ceph.env.conf.read_text(encoding="utf-8").replace(
                "mon_host = ", f"mon_host = {dead_endpoint()}\n# was: ", 1
            ),
            encoding="utf-8",
        )
        section = f"[dead]\nrbd_store_user = {ceph.env.user}\nrbd_store_ceph_conf = {conf}\n"
        store = store_from(section + f"rados_connect_timeout = {timeout:g}\n", tmp_path, "dead", "rbd")
        return closing(RbdDeleter(store)), ceph.url(str(uuid.uuid4()))


@pytest.mark.ceph
class TestS3Deleter(DeleterContract):
    @pytest.fixture
    def timeout(self) -> float:
        return 2.0

    @pytest.fixture
    def bucket(self, s3: S3Side) -> str:
        return s3.bucket()

    @pytest.fixture
    def deleter(self, rgw: RgwEnv, bucket: str, tmp_path: Path, closing: Callable[[Any], Any]) -> Deleter:
        return closing(S3Deleter(store_from(s3_store_section(rgw, "objects", bucket), tmp_path, "objects", "s3")))

    @pytest.fixture
    def make_data(self, s3: S3Side, bucket: str) -> Callable[[], str]:
        return lambda: s3.url(bucket, s3.put(bucket))

    @pytest.fixture
    def foreign_url(self, s3: S3Side, bucket: str) -> str:
        # The same bucket and key, but as written for another S3 service: never this store's object.
        return s3.url(bucket, s3.put(bucket), host="s3.elsewhere.example:443")

    @pytest.fixture
    def unreachable(
        self, rgw: RgwEnv, bucket: str, tmp_path: Path, timeout: float, closing: Callable[[Any], Any]
    ) -> Iterator[tuple[Deleter, str]]:
        with silent_endpoint() as hung:  # accepts, never answers: the timeout must end each call
            section = s3_store_section(rgw, "dead", bucket, host=hung, timeout=int(timeout))
            store = store_from(section, tmp_path, "dead", "s3")
            yield closing(S3Deleter(store)), f"s3://{hung}/{bucket}/{uuid.uuid4()}"


@pytest.mark.ceph
class TestSwiftDeleter(DeleterContract):
    @pytest.fixture
    def timeout(self) -> float:
        return 2.0

    @pytest.fixture
    def deleter(self, rgw: RgwEnv, tmp_path: Path, closing: Callable[[Any], Any]) -> Deleter:
        section = swift_store_section(rgw, "objects", tmp_path)
        return closing(SwiftDeleter(store_from(section, tmp_path, "objects", "swift")))

    @pytest.fixture
    def make_data(self, swift: SwiftSide) -> Callable[[], str]:
        return lambda: swift.url(swift.put())

    @pytest.fixture
    def foreign_url(self, swift: SwiftSide) -> str:
        swift.client.put_container("other-service")
        return swift.url(swift.put(container="other-service"), container="other-service")

    @pytest.fixture
    def unreachable(
        self, rgw: RgwEnv, tmp_path: Path, timeout: float, closing: Callable[[Any], Any]
    ) -> Iterator[tuple[Deleter, str]]:
        with silent_endpoint() as hung:  # accepts, never answers: the timeout must end each call
            auth_url = f"http://{hung}/auth/1.0"
            section = swift_store_section(rgw, "dead", tmp_path, auth_url=auth_url, timeout=int(timeout))
            deleter = SwiftDeleter(store_from(section, tmp_path, "dead", "swift"))
            yield closing(deleter), f"swift+config://ref1/glance/{uuid.uuid4()}"
