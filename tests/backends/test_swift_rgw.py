"""The swift deleter on the real radosgw (Swift API, v1 auth), through ``scrubctl`` on SQLite and MariaDB.

What an operator would notice: HEAD answers and container listings, the rows, the exit codes, the
reasons given, and that no key is ever printed.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.rgw import (  # the *_fixture imports register the fixtures rgw, swift
    RgwEnv,
    SwiftSide,
    refused_store_run,
    silent_endpoint,
    swift_store_section,
)
from tests.support.world import GlanceWorld

pytestmark = pytest.mark.ceph
STORE = "objects"


@pytest.fixture
def swift_world(world: GlanceWorld, rgw: RgwEnv, tmp_path: Path) -> GlanceWorld:
    """A Glance world with a multi-store Swift backend ``objects`` on the test gateway."""
    world.object_stores = {STORE: "swift"}
    world.extra_config = swift_store_section(rgw, STORE, tmp_path)
    world.scrub_time = 3600
    return world


def rows(world: GlanceWorld, name: str, url: str, **options: Any) -> str:
    world.image(image_id=name, urls=[url], stores=[STORE], **options)
    return name


def scrub(world: GlanceWorld, *args: str) -> tuple[int, dict[str, Any], str]:
    result = world.cli("scrub", "--yes", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout), result.stdout + result.stderr


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in document["images"]}


def test_scrub_erases_every_kind_of_object_that_is_due(swift_world: GlanceWorld, swift: SwiftSide, rgw: RgwEnv) -> None:
    plain = swift.put()
    rows(swift_world, plain, swift.url(plain))
    dlo = swift.dlo(segments=4)
    rows(swift_world, dlo, swift.url(dlo))
    slo = swift.slo(segments=3)
    rows(swift_world, slo, swift.url(slo))
    lost = swift.dlo(segments=3, manifest=False)  # the manifest is gone, its segments are not
    rows(swift_world, lost, swift.url(lost))
    old_style = swift.put()
    rows(swift_world, old_style, swift.url_with_credentials(old_style))
    recent = swift.dlo(segments=2)
    rows(swift_world, recent, swift.url(recent), deleted_ago=timedelta(minutes=5))

    code, document, output = scrub(swift_world)
    assert code == 0, document
    results = by_id(document)
    erased = (plain, dlo, slo, lost, old_style)
    assert {results[image]["result"] for image in erased} == {"scrubbed"}
    assert recent not in results
    for image in erased:
        assert not swift.exists(image)
        assert swift.names(image) == []  # no segment left either
        assert swift_world.status(image) == "deleted"
    assert swift.exists(recent)
    assert swift.names(recent) == [recent, f"{recent}-00001", f"{recent}-00002"]
    assert swift_world.status(recent) == "pending_delete"
    assert rgw.swift_key not in output
    again_code, again, _ = scrub(swift_world)
    assert (again_code, again["images"]) == (0, [])


def test_a_dlo_with_more_segments_than_a_listing_page(swift_world: GlanceWorld, swift: SwiftSide) -> None:
    if swift_world.kind != "sqlite":
        pytest.skip("one database is enough for the listing itself")
    name = str(uuid.uuid4())
    segments = [f"{name}-{index:05d}" for index in range(1, 1006)]
    swift.put_many(segments)
    swift.client.put_object(swift.container, name, b"", headers={"X-Object-Manifest": f"{swift.container}/{name}-"})
    rows(swift_world, name, swift.url(name))
    code, document, _ = scrub(swift_world)
    assert code == 0, document
    assert swift.names(name) == []
    assert "1005 segment(s)" in by_id(document)[name]["locations"][0]["reason"]


def test_dry_run_changes_nothing(swift_world: GlanceWorld, swift: SwiftSide) -> None:
    images = [swift.put(), swift.dlo(segments=2), swift.slo(segments=2)]
    for image in images:
        rows(swift_world, image, swift.url(image))
    before = (swift_world.checksum(), [swift.names(image) for image in images])
    code, document, _ = scrub(swift_world, "--dry-run")
    assert code == 0
    assert {item["result"] for item in document["images"]} == {"would_scrub"}
    assert (swift_world.checksum(), [swift.names(image) for image in images]) == before


def test_restore_checks_the_object_is_there(swift_world: GlanceWorld, swift: SwiftSide) -> None:
    present, gone = swift.put(), swift.put()
    rows(swift_world, present, swift.url(present))
    rows(swift_world, gone, swift.url(gone))
    swift.client.delete_object(swift.container, gone)
    result = swift_world.cli("restore", "-f", "json", present, gone)
    document = by_id(json.loads(result.stdout))
    assert result.exit_code == 1
    assert (document[present]["result"], document[gone]["result"]) == ("restored", "refused")
    assert swift_world.status(present) == "active"
    assert swift_world.status(gone) == "pending_delete"


def test_a_wrong_key_fails_the_run_in_one_line(
    swift_world: GlanceWorld, swift: SwiftSide, rgw: RgwEnv, tmp_path: Path
) -> None:
    images = [swift.put() for _ in range(3)]
    for image in images:
        rows(swift_world, image, swift.url(image))
    wrong = "WrongSwiftKey000000000000000000000"
    swift_world.extra_config = swift_store_section(rgw, STORE, tmp_path, key=wrong)
    last = refused_store_run(
        swift_world,
        images,
        wrong,
        in_reason="store's credentials are wrong",
        last_line=f"scrubctl: unreachable: store {STORE}: authenticating to ",
    )
    assert "refused the credentials" in last
    for image in images:
        assert swift.exists(image)
        assert swift_world.status(image) == "pending_delete"


def test_a_wrong_key_in_a_location_url_fails_that_image(swift_world: GlanceWorld, swift: SwiftSide) -> None:
    refused, fine = swift.put(), swift.put()
    wrong = "WrongUrlKey11111111111111111111"
    rows(swift_world, refused, swift.url_with_credentials(refused, key=wrong))
    rows(swift_world, fine, swift.url(fine))
    code, document, output = scrub(swift_world)
    assert code == 1  # that image failed; the store's own credentials work
    results = by_id(document)
    assert (results[refused]["result"], results[fine]["result"]) == ("failed", "scrubbed")
    assert "credentials in the location URL" in results[refused]["reason"]
    assert wrong not in output
    assert swift.exists(refused)
    assert not swift.exists(fine)
    assert swift_world.status(refused) == "pending_delete"


def test_multi_tenant_locations_are_blocked_without_a_way_in(world: GlanceWorld, swift: SwiftSide) -> None:
    world.object_stores = {STORE: "swift"}
    world.extra_config = f"\n[{STORE}]\nswift_store_multi_tenant = True\nswift_store_container = glance\n"
    image = swift.put()
    storage = swift.env.endpoint.split("://", 1)[1] + "/swift/v1"
    rows(world, image, f"swift+http://{storage}/glance/{image}")
    code, document, _ = scrub(world)
    assert code == 4
    assert "multi-tenant" in by_id(document)[image]["reason"]
    assert swift.exists(image)


def test_a_hung_endpoint_is_exit_3_within_the_timeout(
    swift_world: GlanceWorld, swift: SwiftSide, rgw: RgwEnv, tmp_path: Path
) -> None:
    images = [swift.put() for _ in range(3)]
    for image in images:
        rows(swift_world, image, swift.url(image))
    with silent_endpoint() as hung:  # accepts connections, never answers
        auth_url = f"http://{hung}/auth/1.0"
        swift_world.extra_config = swift_store_section(rgw, STORE, tmp_path, auth_url=auth_url, timeout=2)
        started = time.monotonic()
        code, _document, output = scrub(swift_world, "--concurrency", "2")
        elapsed = time.monotonic() - started
    assert code == 3, output
    assert elapsed < 2 * 2 + 5  # each worker waits at most one timeout, then the store is known down
    assert {swift_world.status(image) for image in images} == {"pending_delete"}


def test_list_pending_show_and_check_backends(swift_world: GlanceWorld, swift: SwiftSide, rgw: RgwEnv) -> None:
    image = swift.put()
    rows(swift_world, image, swift.url_with_credentials(image))
    swift.client.put_container("other-service")
    foreign = swift.put(container="other-service")
    rows(swift_world, foreign, swift.url(foreign, container="other-service"))
    listed = swift_world.cli("list-pending", "--check-backends", "-f", "json")
    assert listed.exit_code == 0, listed.stderr
    entries = {entry["id"]: entry for entry in json.loads(listed.stdout)}
    assert "***@" in entries[image]["locations"][0]["url"]
    assert not entries[image]["blockers"]
    assert any("other-service" in reason for reason in entries[foreign]["blockers"])
    shown = swift_world.cli("show", image)
    assert shown.exit_code == 0, shown.stderr
    checked = swift_world.cli("check")
    assert f"store {STORE} (swift)" in checked.stdout + checked.stderr
    for output in (listed.stdout, listed.stderr, shown.stdout, shown.stderr, checked.stdout, checked.stderr):
        assert rgw.swift_key not in output
