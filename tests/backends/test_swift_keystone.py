"""The Keystone v3 path of the swift deleter.

Against a real Keystone (``scripts/keystone-start``: Keystone on SQLite and a radosgw validating
Swift tokens with it, named by ``SCRUBCTL_TEST_KEYSTONE_ENV``): ``scrubctl scrub`` on SQLite and
MariaDB erases through a ``swift+config`` reference as glance_store 5 writes it, and a refused
password fails the run (exit 3: the store's configuration is wrong) with one line. Against a small
local stand-in for ``POST /v3/auth/tokens`` that hands out a real RGW token: the exact request body
and the catalog endpoint picked among several (interface, region)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from scrubctl.backends.base import EraseOutcome
from scrubctl.backends.swift import SwiftDeleter
from scrubctl.errors import BackendUnavailableError
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.oslo_syntax import OsloConfig
from tests.support.local_http import serving
from tests.support.rgw import SwiftSide
from tests.support.tenants import keystone_env_file, keystone_token, keystone_values
from tests.support.world import GlanceWorld

pytestmark = pytest.mark.ceph
PASSWORD = "v3-password/with+odd:chars"


class StandIn:
    """``POST /v3/auth/tokens`` answering a project-scoped password request with a catalog."""

    def __init__(self, storage_url: str, token: str) -> None:
        self.requests: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append({"path": self.path, "body": body})
                password = body["auth"]["identity"]["password"]["user"]["password"]
                if self.path != "/v3/auth/tokens" or password != PASSWORD:
                    self.send_response(401)
                    self.end_headers()
                    return
                endpoints = [
                    {"interface": "public", "region_id": "RegionOne", "url": "http://127.0.0.1:9/wrong-interface"},
                    {"interface": "internal", "region_id": "RegionTwo", "url": "http://127.0.0.1:9/wrong-region"},
                    {"interface": "internal", "region_id": "RegionOne", "url": storage_url},
                ]
                catalog = [{"type": "identity", "endpoints": []}, {"type": "object-store", "endpoints": endpoints}]
                answer = json.dumps({"token": {"catalog": catalog}}).encode()
                self.send_response(201)
                self.send_header("X-Subject-Token", token)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.handler = Handler
        self.url = ""  # set while served


@pytest.fixture
def keystone(swift: SwiftSide) -> Iterator[StandIn]:
    storage_url, token = swift.client.get_auth()
    stand_in = StandIn(storage_url, token)
    with serving(stand_in.handler) as address:
        stand_in.url = f"http://{address}/v3"
        yield stand_in


def v3_store(tmp_path: Path, auth_url: str, password: str = PASSWORD) -> StoreConfig:
    references = tmp_path / "glance-swift.conf"
    references.write_text(
        f"[ref1]\nuser = service:glance\nkey = {password}\nauth_address = {auth_url}\n"
        "user_domain_id = default\nproject_domain_name = Default\n",
        encoding="utf-8",
    )
    config = tmp_path / "glance-api.conf"
    config.write_text(
        f"[objects]\nswift_store_config_file = {references}\ndefault_swift_reference = ref1\n"
        "swift_store_region = RegionOne\nswift_store_endpoint_type = internalURL\nscrubctl_store_timeout = 5\n",
        encoding="utf-8",
    )
    return StoreConfig(name="objects", driver="swift", group="objects", config=OsloConfig.from_files([config]))


def test_keystone_v3_token_and_catalog_reach_the_object(keystone: StandIn, swift: SwiftSide, tmp_path: Path) -> None:
    name = swift.put()
    deleter = SwiftDeleter(v3_store(tmp_path, keystone.url))
    try:
        assert deleter.check() == []
        result = deleter.erase(swift.url(name), dry_run=False)
    finally:
        deleter.close()
    assert result.outcome is EraseOutcome.ERASED
    assert not swift.exists(name)
    request = keystone.requests[0]["body"]["auth"]
    assert request["identity"]["methods"] == ["password"]
    assert request["identity"]["password"]["user"]["name"] == "glance"
    assert request["identity"]["password"]["user"]["domain"] == {"id": "default"}
    assert request["scope"]["project"] == {"name": "service", "domain": {"name": "Default"}}
    assert len(keystone.requests) == 1  # one authentication for the run


def test_keystone_v3_refusal_is_a_store_unusable_as_configured(
    keystone: StandIn, swift: SwiftSide, tmp_path: Path
) -> None:
    first, second = swift.put(), swift.put()
    deleter = SwiftDeleter(v3_store(tmp_path, keystone.url, password="wrong-password"))
    try:
        with pytest.raises(BackendUnavailableError) as refused:
            deleter.erase(swift.url(first), dry_run=False)
        with pytest.raises(BackendUnavailableError):
            deleter.exists(swift.url(second))
        assert deleter.check()
    finally:
        deleter.close()
    assert "Keystone refused" in str(refused.value)
    assert "wrong-password" not in str(refused.value)
    assert len(keystone.requests) == 1  # refused once: not asked again for every image of the run
    assert swift.exists(first)


# -- a real Keystone -----------------------------------------------------------------------------


class KeystoneSide:
    """The real Keystone's test user, and Swift on the Keystone-backed gateway with its token."""

    def __init__(self, path: Path) -> None:
        import swiftclient

        values = keystone_values(path)
        self.auth_url = values["KEYSTONE_AUTH_URL"]
        self.user = values["KEYSTONE_USER"]
        self.password = values["KEYSTONE_PASSWORD"]
        project, _, user = self.user.partition(":")
        token = keystone_token(self.auth_url, user, self.password, project)
        self.client: Any = swiftclient.Connection(
            preauthurl=values["RGW_KS_ENDPOINT"] + "/swift/v1", preauthtoken=token
        )
        self.container = f"ks{uuid.uuid4().hex[:10]}"  # bucket names are unique per gateway
        self.client.put_container(self.container)

    def exists(self, name: str) -> bool:
        from swiftclient import ClientException

        try:
            self.client.head_object(self.container, name)
        except ClientException as error:
            if error.http_status == 404:
                return False
            raise
        return True

    def cleanup(self) -> None:
        _headers, items = self.client.get_container(self.container, full_listing=True)
        for item in items:
            self.client.delete_object(self.container, item["name"])
        self.client.delete_container(self.container)


@pytest.fixture
def keystone_side() -> Iterator[KeystoneSide]:
    side = KeystoneSide(keystone_env_file())
    try:
        yield side
    finally:
        side.cleanup()


def keystone_world(world: GlanceWorld, side: KeystoneSide, tmp_path: Path, password: str | None = None) -> None:
    references = tmp_path / "glance-swift.conf"
    references.write_text(
        f"[ref1]\nuser = {side.user}\nkey = {password or side.password}\nauth_address = {side.auth_url}\n"
        "user_domain_id = default\nproject_domain_id = default\n",
        encoding="utf-8",
    )
    world.object_stores = {"objects": "swift"}
    world.extra_config = (
        f"\n[objects]\nswift_store_config_file = {references}\ndefault_swift_reference = ref1\n"
        f"swift_store_container = {side.container}\nswift_store_region = RegionOne\n"
        "swift_store_endpoint_type = internalURL\nscrubctl_store_timeout = 10\n"
    )


def test_scrub_through_a_real_keystone(world: GlanceWorld, keystone_side: KeystoneSide, tmp_path: Path) -> None:
    keystone_world(world, keystone_side, tmp_path)
    plain, large = str(uuid.uuid4()), str(uuid.uuid4())
    keystone_side.client.put_object(keystone_side.container, plain, b"x" * 4096)
    for index in (1, 2, 3):
        keystone_side.client.put_object(keystone_side.container, f"{large}-{index:05d}", b"y" * 1024)
    manifest = {"X-Object-Manifest": f"{keystone_side.container}/{large}-"}
    keystone_side.client.put_object(keystone_side.container, large, b"", headers=manifest)
    for image in (plain, large):
        url = f"swift+config://ref1/{keystone_side.container}/{image}"
        world.image(image_id=image, urls=[url], stores=["objects"], write_files=False)
    checked = world.cli("check")
    assert "store objects (swift): reachable" in checked.stdout, checked.stdout + checked.stderr
    result = world.cli("scrub", "--yes", "-f", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert {item["result"] for item in json.loads(result.stdout)["images"]} == {"scrubbed"}
    assert not keystone_side.exists(plain)
    assert not keystone_side.exists(large)
    assert keystone_side.client.get_container(keystone_side.container, full_listing=True)[1] == []
    assert world.status(plain) == world.status(large) == "deleted"


def test_a_password_keystone_refuses_fails_the_run(
    world: GlanceWorld, keystone_side: KeystoneSide, tmp_path: Path
) -> None:
    wrong = "not-the-password-1234"
    keystone_world(world, keystone_side, tmp_path, password=wrong)
    image = str(uuid.uuid4())
    keystone_side.client.put_object(keystone_side.container, image, b"x")
    world.image(image_id=image, urls=[f"swift+config://ref1/{keystone_side.container}/{image}"], stores=["objects"])
    result = world.cli("scrub", "--yes", "-f", "json")
    assert result.exit_code == 3  # bad configuration: the timer's unit fails (not 4, blocked)
    item = json.loads(result.stdout)["images"][0]
    assert item["result"] == "failed"
    assert "Keystone refused" in item["reason"]
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("scrubctl: unreachable: store objects: Keystone refused the reference ref1"), lines
    assert all(line.startswith(("<", "scrubctl: ")) for line in lines), result.stderr  # one line each
    assert "Traceback" not in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert keystone_side.exists(image)
    assert world.status(image) == "pending_delete"
