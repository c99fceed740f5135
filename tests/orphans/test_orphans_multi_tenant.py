"""``scrubctl orphans`` and ``scrub`` on a multi-tenant Swift store: images in two projects' own
accounts on the real radosgw (each project its own account, as kolla-ansible sets RGW up), the
accounts found through the real Keystone, on SQLite and MariaDB.

Orphans are found in every owner's account and reclaimed with their containers, every piece a row
needs is left alone, a second run finds nothing; scrub removes an image's object and its container
as glance_store does. A reference that may not list Keystone's projects, and an endpoint that names
no project, leave the store not scanned, with the reason, and nothing erased.
"""

from __future__ import annotations

import http.client
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.orphans.test_orphans import purge_locations, set_status
from tests.support.local_http import serving
from tests.support.tenants import TENANTS, Tenants, tenants_fixture  # noqa: F401 - registers the fixture tenants
from tests.support.world import GlanceWorld

pytestmark = pytest.mark.ceph
STORE = "objects"
FIRST, SECOND = TENANTS


def tenant_world(world: GlanceWorld, tenants: Tenants, tmp_path: Path, **section: Any) -> GlanceWorld:
    world.object_stores = {STORE: "swift"}
    world.extra_config = tenants.store_section(STORE, tmp_path, **section)
    return world


def image(world: GlanceWorld, url: str, **options: Any) -> str:
    image_id = url.rpartition("/")[2]
    world.image(image_id=image_id, urls=[url], stores=[STORE], write_files=False, **options)
    return image_id


def orphans(world: GlanceWorld, *args: str) -> tuple[int, Any, str]:
    result = world.cli("orphans", "--store", STORE, "--older-than", "0s", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_orphans_in_every_owners_account_found_and_reclaimed_with_their_containers(
    world: GlanceWorld, tenants: Tenants, tmp_path: Path
) -> None:
    tenant_world(world, tenants, tmp_path)
    purged = image(world, tenants.put(FIRST))
    purge_locations(world, purged)
    purged_large = image(world, tenants.put(SECOND, segments=3))
    purge_locations(world, purged_large)
    scrubbed = image(world, tenants.put(FIRST))  # rows say deleted; the object stayed
    set_status(world, scrubbed, "deleted", location_status="deleted")
    kept = {
        image(world, tenants.put(FIRST), deleted_ago=None): FIRST,  # live
        image(world, tenants.put(SECOND)): SECOND,  # pending_delete
        image(world, tenants.put(SECOND, segments=2), deleted_ago=None): SECOND,  # live, large
    }
    before = {image_id: tenants.names(tenant, image_id) for image_id, tenant in kept.items()}
    code, listing, stderr = orphans(world)
    assert code == 0, stderr
    found = {item["image_id"]: item for item in listing}
    assert {image_id: item["kind"] for image_id, item in found.items()} == {
        purged: "unreferenced",
        purged_large: "unreferenced",
        scrubbed: "deleted_rows_only",
    }
    assert all(item["reclaimable"] for item in listing), listing
    assert found[purged_large]["bytes"] == 3 * 1024  # the manifest with its segments
    assert found[purged]["url"] == tenants.url(FIRST, purged)  # the owner's storage URL, as Glance writes it

    code, done, stderr = orphans(world, "--reclaim", "--yes")
    assert code == 0, stderr
    assert done["summary"]["reclaimed"] == 3, done
    assert tenants.names(FIRST, purged) is None  # the object and the image's container
    assert tenants.names(SECOND, purged_large) is None  # the manifest, its segments, the container
    assert tenants.names(FIRST, scrubbed) is None
    assert {image_id: tenants.names(tenant, image_id) for image_id, tenant in kept.items()} == before
    code, again, stderr = orphans(world, "--reclaim", "--yes")
    assert code == 0 and again["summary"]["reclaimed"] == 0 and again["orphans"] == [], again


def test_scrub_erases_a_multi_tenant_image_and_its_container(
    world: GlanceWorld, tenants: Tenants, tmp_path: Path
) -> None:
    tenant_world(world, tenants, tmp_path)
    plain = image(world, tenants.put(FIRST))
    large = image(world, tenants.put(SECOND, segments=2))
    other = image(world, tenants.put(SECOND), deleted_ago=None)
    dry = world.cli("scrub", "--dry-run", "-f", "json")
    assert dry.exit_code == 0, dry.stderr
    assert tenants.names(FIRST, plain) == [plain]
    result = world.cli("scrub", "--yes", "-f", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert {item["result"] for item in json.loads(result.stdout)["images"]} == {"scrubbed"}
    assert tenants.names(FIRST, plain) is None
    assert tenants.names(SECOND, large) is None
    assert tenants.names(SECOND, other) == [other]
    assert world.status(plain) == world.status(large) == "deleted"


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ({"member": True}, "(HTTP 403): listing a multi-tenant store's accounts needs"),
        ({"region": "RegionOne"}, "names no project"),
    ],
    ids=["reference-without-admin-role", "endpoint-without-project"],
)
def test_a_store_whose_accounts_cannot_be_listed_is_not_scanned(
    world: GlanceWorld, tenants: Tenants, tmp_path: Path, section: dict[str, Any], reason: str
) -> None:
    tenant_world(world, tenants, tmp_path, **section)
    purged = image(world, tenants.put(FIRST))
    purge_locations(world, purged)
    code, listing, stderr = orphans(world)
    assert code == 0, stderr  # not scanned is not an outage
    assert listing == []
    warning = next(line for line in stderr.splitlines() if "not scanned" in line)
    assert f"store {STORE} (swift) not scanned" in warning and reason in warning, stderr
    code, done, stderr = orphans(world, "--reclaim", "--yes")
    assert done["summary"]["reclaimed"] == 0
    assert tenants.names(FIRST, purged) == [purged]


def refusing_container_deletes(upstream: str) -> type[BaseHTTPRequestHandler]:
    """A proxy in front of the gateway that refuses ``DELETE`` of a container (HTTP 403), as Swift
    refuses it to a user whose only right is a container's write ACL (RGW lets such a user delete it)."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0].rstrip("/")
            if self.command == "DELETE" and path.count("/") == 4:  # /swift/v1/AUTH_x/container
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            upstream_connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
            upstream_connection.request(self.command, self.path, body or None, headers)
            answer = upstream_connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            upstream_connection.close()

        do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = _forward

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def test_a_container_the_reference_may_not_delete_is_left_and_the_image_still_scrubbed(
    world: GlanceWorld, tenants: Tenants, tmp_path: Path
) -> None:
    tenant_world(world, tenants, tmp_path)
    with serving(refusing_container_deletes(tenants.endpoint)) as proxy:
        url = tenants.put(FIRST)
        image_id = image(world, url.replace(tenants.endpoint.split("://", 1)[1], proxy))
        result = world.cli("scrub", "--yes", "-f", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["images"][0]["result"] == "scrubbed"
    assert world.status(image_id) == "deleted"
    assert tenants.names(FIRST, image_id) == []  # the data erased, the empty container left
    assert f"Swift container {tenants.container}_{image_id} left" in result.stderr
