"""Swift and S3 location URLs read as glance_store writes them, keys masked, and the install hint
when a client library is missing (no object store needed)."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from scrubctl.backends import DeleterPool, DeleterRegistry
from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.s3 import BINDINGS_HINT as S3_HINT
from scrubctl.backends.s3 import parse_url as parse_s3
from scrubctl.backends.swift import BINDINGS_HINT as SWIFT_HINT
from scrubctl.backends.swift import parse_url as parse_swift
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.oslo_syntax import OsloConfig
from scrubctl.settings.secrets import mask_url
from tests.support.world import GlanceWorld


def test_s3_urls_with_and_without_keys() -> None:
    old = parse_s3("s3://AKIA123:se/cr+et@s3.example.com:8080/glance/0d6e-id")
    assert (old.access_key, old.secret_key, old.host, old.bucket, old.key) == (
        "AKIA123",
        "se/cr+et",
        "s3.example.com:8080",
        "glance",
        "0d6e-id",
    )
    new = parse_s3("s3+https://s3.example.com/glance/0d6e-id")
    assert (new.access_key, new.host, new.bucket, new.key) == (None, "s3.example.com", "glance", "0d6e-id")


@pytest.mark.parametrize(
    "url",
    [
        "s3://a:b@c@host/bucket/key",
        "s3://host/bucket/key?s3://x",
        "s3://host/key",
        "s3://onlyaccess@host/bucket/key",
        "swift://host/bucket/key",
    ],
)
def test_s3_urls_that_cannot_be_read_are_refused(url: str) -> None:
    with pytest.raises(LocationBlocked):
        parse_s3(url)


def test_swift_url_forms() -> None:
    config = parse_swift("swift+config://ref1/glance/id-1")
    assert (config.reference, config.container, config.obj, config.multi_tenant) == ("ref1", "glance", "id-1", False)
    quoted = parse_swift("swift+http://project%3Auser:k%2Fey@keystone:5000/v3/glance/id-2")
    assert (quoted.user, quoted.key, quoted.http_address()) == ("project:user", "k/ey", "http://keystone:5000/v3")
    assert parse_swift("swift://tenant:user:key@auth.example/v3/glance_id/id").http_address().startswith("https://")
    tenant = parse_swift("swift+https://swift.example/v1/AUTH_abc/glance_id-3/id-3")
    assert tenant.multi_tenant
    assert tenant.http_address() == "https://swift.example/v1/AUTH_abc"
    for bad in ("swift+config://ref1/extra/glance/id", "swift://host/id", "swift://a@b@host/c/o"):
        with pytest.raises(LocationBlocked):
            parse_swift(bad)


def test_keys_are_masked_even_with_a_slash_in_the_secret() -> None:
    assert mask_url("s3://AK:se/cr+et@host/b/k") == "s3://AK:***@host/b/k"
    assert mask_url("swift+http://p%3Au:key@auth/v3/glance/id") == "swift+http://p%3Au:***@auth/v3/glance/id"


def test_a_missing_client_library_blocks_with_the_install_hint(
    world: GlanceWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    if world.kind != "sqlite":
        pytest.skip("the hint does not depend on the database")
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.setitem(sys.modules, "swiftclient", None)
    monkeypatch.setitem(sys.modules, "swiftclient.client", None)
    world.object_stores = {"objects": "s3", "swifty": "swift"}
    world.extra_config = "\n[objects]\ns3_store_host = http://127.0.0.1:9\ns3_store_bucket = glance\n\n[swifty]\n"
    s3_image, swift_image = str(uuid.uuid4()), str(uuid.uuid4())
    world.image(image_id=s3_image, urls=[f"s3://127.0.0.1:9/glance/{s3_image}"], stores=["objects"])
    world.image(image_id=swift_image, urls=[f"swift+config://ref1/glance/{swift_image}"], stores=["swifty"])
    shown = world.cli("show", s3_image, "-f", "json")
    assert S3_HINT in shown.stdout, shown.stdout + shown.stderr
    code = world.cli("scrub", "--yes", "-f", "json")
    results = {item["id"]: item for item in json.loads(code.stdout)["images"]}
    assert code.exit_code == 4
    assert results[s3_image]["result"] == "blocked"
    assert S3_HINT in results[s3_image]["reason"]
    assert SWIFT_HINT in results[swift_image]["reason"]
    assert "pip install 'scrubctl[s3]'" in S3_HINT
    checked = world.cli("check")
    assert "scrubctl[swift]" in checked.stdout + checked.stderr


def test_schemes_of_one_deleter_share_the_store_connection(tmp_path: Path) -> None:
    config = tmp_path / "glance-api.conf"
    config.write_text("[objects]\nswift_store_container = glance\n[s3store]\ns3_store_host = h\n", encoding="utf-8")
    parsed = OsloConfig.from_files([config])
    swift = StoreConfig(name="objects", driver="swift", group="objects", config=parsed)
    s3 = StoreConfig(name="s3store", driver="s3", group="s3store", config=parsed)
    pool = DeleterPool(DeleterRegistry())
    try:
        deleters = {pool.get(scheme, swift) for scheme in ("swift", "swift+http", "swift+https", "swift+config")}
        assert len(deleters) == 1
        assert len({pool.get(scheme, s3) for scheme in ("s3", "s3+http", "s3+https")}) == 1
    finally:
        pool.close()
