"""The Keystone v3 path of the swift deleter: the token request it sends and the catalog endpoint it
picks, against a small local stand-in for Keystone's ``POST /v3/auth/tokens`` that hands out a real
RGW token and catalog; the objects are then erased on the real radosgw. (A real Keystone is not part
of the test tier; see README.md.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scrubctl.backends.base import EraseOutcome, LocationBlocked
from scrubctl.backends.swift import SwiftDeleter
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.oslo_syntax import OsloConfig
from tests.rgw import RgwEnv, SwiftSide, rgw_fixture, swift_fixture  # noqa: F401 - fixtures

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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def keystone(swift: SwiftSide) -> Iterator[StandIn]:
    storage_url, token = swift.client.get_auth()
    stand_in = StandIn(storage_url, token)
    yield stand_in
    stand_in.server.shutdown()


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


def test_keystone_v3_refusal_blocks_with_one_line(keystone: StandIn, swift: SwiftSide, tmp_path: Path) -> None:
    name = swift.put()
    deleter = SwiftDeleter(v3_store(tmp_path, keystone.url, password="wrong-password"))
    try:
        with pytest.raises(LocationBlocked) as refused:
            deleter.erase(swift.url(name), dry_run=False)
        assert deleter.check()
    finally:
        deleter.close()
    assert "Keystone refused" in str(refused.value)
    assert "wrong-password" not in str(refused.value)
    assert swift.exists(name)
