"""The Swift and S3 inventories rerun the inventory contract suite on the real radosgw, each against a
container or bucket of its own, with every URL form Glance writes (``swift+config``, credentials in
the URL; S3 with the keys of glance_store up to 5.5 and without), and a multi-tenant Swift store
(behind the real Keystone) whose images lie in two projects' own accounts.

One case differs on purpose: a Swift or S3 URL naming another host still needs the same container and
object (bucket and key) here. glance_store calls S3 at ``s3_store_host`` whatever host a row names, and
an endpoint or Keystone renamed leaves rows naming the old host: a key that depended on the host would
call the data of every such row an orphan. URLs of other kinds of store still need nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from scrubctl.backends.inventory import Inventory
from scrubctl.backends.s3 import S3Deleter
from scrubctl.backends.swift import SwiftDeleter
from scrubctl.settings.config import StoreConfig
from scrubctl.testing.inventory_contract import OTHER_STORES, InventoryContract
from tests.backends.test_inventory_contract import store_of
from tests.support.rgw import (  # the *_fixture imports register the fixtures rgw, s3
    RgwEnv,
    S3Side,
    SwiftSide,
    rgw_fixture,  # noqa: F401
    s3_fixture,  # noqa: F401
    s3_store_section,
    swift_store_section,
)
from tests.support.tenants import TENANTS, Tenants, tenants_fixture  # noqa: F401 - registers the fixture tenants

pytestmark = pytest.mark.ceph
STORE = "objects"
OBJECT_STORE_SCHEMES = ("swift", "s3")


class ObjectStoreContract(InventoryContract):
    """The contract for an object store's deleter (``driver``, ``deleter``) on the test gateway."""

    driver = ""
    deleter: type[SwiftDeleter | S3Deleter]

    @pytest.fixture
    def store(self, store_section: str, tmp_path: Path) -> StoreConfig:
        return store_of(store_section, tmp_path, STORE, self.driver)

    @pytest.fixture
    def inventory(self, store: StoreConfig) -> Iterator[Inventory]:
        deleter = self.deleter(store)
        yield deleter
        deleter.close()

    def test_urls_of_other_stores_need_nothing(
        self, inventory: Inventory, store: StoreConfig, foreign_urls: list[str]
    ) -> None:
        """URLs of stores of other kinds need nothing (those of this kind: see the module docstring)."""
        for url in OTHER_STORES:
            if not url.split("://", 1)[0].startswith(OBJECT_STORE_SCHEMES):
                assert inventory.location_keys(url, store) == (), url


class TestSwiftInventory(ObjectStoreContract):
    driver, deleter = "swift", SwiftDeleter

    @pytest.fixture
    def swift(self, rgw: RgwEnv) -> Iterator[SwiftSide]:
        side = SwiftSide(rgw, container=f"contract{uuid.uuid4().hex[:10]}")
        try:
            yield side
        finally:
            for item in side.client.get_container(side.container, full_listing=True)[1]:
                side.client.delete_object(side.container, item["name"])
            side.client.delete_container(side.container)

    @pytest.fixture
    def store_section(self, rgw: RgwEnv, swift: SwiftSide, tmp_path: Path) -> str:
        return swift_store_section(rgw, STORE, tmp_path, container=swift.container)

    @pytest.fixture
    def make_data(self, swift: SwiftSide) -> Callable[[str], str]:
        def make(image_id: str) -> str:
            if image_id[0] in "0123":  # a quarter of them large, as Glance writes them
                for index in range(1, 3):
                    swift.client.put_object(swift.container, f"{image_id}-{index:05d}", b"s" * 1024)
                manifest = {"X-Object-Manifest": f"{swift.container}/{image_id}-"}
                swift.client.put_object(swift.container, image_id, b"", headers=manifest)
            else:
                swift.client.put_object(swift.container, image_id, b"x" * 1024)
            return swift.url(image_id)

        return make

    @pytest.fixture
    def url_forms(self, swift: SwiftSide, rgw: RgwEnv) -> Callable[[str], list[str]]:
        def forms(url: str) -> list[str]:
            name = url.rpartition("/")[2]
            auth = rgw.swift_auth_url.split("://", 1)[1]
            credentials = f"{quote(rgw.swift_user, safe='')}:{quote(rgw.swift_key, safe='')}"
            return [
                swift.url_with_credentials(name),
                f"swift+https://{credentials}@{auth}/{swift.container}/{name}",
                f"swift://{credentials}@{auth}/{swift.container}/{name}",
                f"SWIFT+CONFIG://ref1/{swift.container}/{name}",
                f"swift+https://rgw.example/swift/v1/AUTH_project/{swift.container}/{name}",  # multi-tenant form
            ]

        return forms

    def test_urls_of_other_stores_need_nothing(
        self, inventory: Inventory, store: StoreConfig, foreign_urls: list[str]
    ) -> None:
        super().test_urls_of_other_stores_need_nothing(inventory, store, foreign_urls)
        assert inventory.location_keys("swift+config://ref1/elsewhere/0d7b4f1e", store) != ()


class TestSwiftMultiTenantInventory(TestSwiftInventory):
    """Every project's account listed through Keystone; the pieces named by storage URLs."""

    @pytest.fixture
    def store_section(self, tenants: Tenants, tmp_path: Path) -> str:
        return tenants.store_section(STORE, tmp_path)

    @pytest.fixture
    def make_data(self, tenants: Tenants) -> Callable[[str], str]:
        def make(image_id: str) -> str:
            tenant = TENANTS[int(image_id[0], 16) % 2]  # both projects' accounts
            return tenants.put(tenant, image_id, segments=2 if image_id[0] in "0123" else 0)

        return make

    @pytest.fixture
    def url_forms(self, tenants: Tenants) -> Callable[[str], list[str]]:
        def forms(url: str) -> list[str]:
            path = url.split("/swift/v1/", 1)[1]
            return [
                f"swift+https://rgw.example/swift/v1/{path}",  # an endpoint renamed since
                f"swift://rgw.example:8080/v1/{path}",
            ]

        return forms


class TestS3Inventory(ObjectStoreContract):
    driver, deleter = "s3", S3Deleter

    @pytest.fixture
    def bucket(self, s3: S3Side) -> str:
        return s3.bucket()

    @pytest.fixture
    def store_section(self, rgw: RgwEnv, bucket: str) -> str:
        return s3_store_section(rgw, STORE, bucket)

    @pytest.fixture
    def make_data(self, s3: S3Side, bucket: str) -> Callable[[str], str]:
        def make(image_id: str) -> str:
            s3.put(bucket, image_id, size=1024)
            return s3.url(bucket, image_id)

        return make

    @pytest.fixture
    def url_forms(self, s3: S3Side, bucket: str) -> Callable[[str], list[str]]:
        def forms(url: str) -> list[str]:
            name = url.rpartition("/")[2]
            return [
                s3.url(bucket, name, keys=True),  # glance_store up to 5.5
                f"S3+HTTP://{s3.env.host}/{bucket}/{name}",
                f"s3://s3.renamed.example/{bucket}/{name}",  # an endpoint renamed since the row was written
            ]

        return forms
