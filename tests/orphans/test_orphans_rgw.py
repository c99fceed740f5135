"""``scrubctl orphans`` on Swift and S3 stores of the real radosgw, on SQLite and MariaDB.

Each orphan kind is found (objects whose rows were purged, a large object's segments whose manifest
is gone, incomplete multipart uploads); every piece a row needs is left alone, whatever URL form the
row holds (``swift+config``, credentials in the URL; S3 with the keys or without): DLO and SLO segments
of live images, objects of pending images, uploads in flight. ``--reclaim`` erases exactly the
reclaimable pieces, a second run finds nothing to do, and two runs at once erase each piece once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.orphans.test_orphans import purge_locations, set_status
from tests.support.rgw import (  # the *_fixture imports register the fixtures rgw, s3
    RgwEnv,
    S3Side,
    SwiftSide,
    rgw_fixture,  # noqa: F401
    s3_fixture,  # noqa: F401
    s3_store_section,
    swift_store_section,
)
from tests.support.world import GlanceWorld

pytestmark = pytest.mark.ceph
STORE = "objects"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def swift(rgw: RgwEnv) -> Iterator[SwiftSide]:
    """Swift access to a container of this test's own (and ``<container>_*``), emptied afterwards."""
    side = SwiftSide(rgw, container=f"scan{uuid.uuid4().hex[:10]}")
    try:
        yield side
    finally:
        _headers, containers = side.client.get_account(prefix=side.container, full_listing=True)
        for container in containers:
            for item in side.client.get_container(container["name"], full_listing=True)[1]:
                side.client.delete_object(container["name"], item["name"])
            side.client.delete_container(container["name"])


@pytest.fixture
def swift_world(world: GlanceWorld, rgw: RgwEnv, swift: SwiftSide, tmp_path: Path) -> GlanceWorld:
    world.object_stores = {STORE: "swift"}
    world.extra_config = swift_store_section(rgw, STORE, tmp_path, container=swift.container)
    return world


@pytest.fixture
def bucket(s3: S3Side) -> str:
    return s3.bucket()


@pytest.fixture
def s3_world(world: GlanceWorld, rgw: RgwEnv, bucket: str) -> GlanceWorld:
    world.object_stores = {STORE: "s3"}
    world.extra_config = s3_store_section(rgw, STORE, bucket)
    return world


def orphans(world: GlanceWorld, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = world.cli("orphans", "--store", STORE, "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def reclaim(world: GlanceWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.cli("orphans", "--store", STORE, "--reclaim", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def swift_rows(world: GlanceWorld, name: str, url: str, **options: Any) -> str:
    world.image(image_id=name, urls=[url], stores=[STORE], **options)
    return name


def build_swift(world: GlanceWorld, swift: SwiftSide) -> tuple[dict[str, str], list[str]]:
    """One orphan of each Swift kind (by name) and the names of every piece rows need."""
    found: dict[str, str] = {}
    found["purged"] = swift.put()
    purge_locations(world, swift_rows(world, found["purged"], swift.url(found["purged"])))
    found["purged_dlo"] = swift.dlo(segments=3)
    purge_locations(world, swift_rows(world, found["purged_dlo"], swift.url(found["purged_dlo"])))
    found["lost_segments"] = swift.dlo(segments=2, manifest=False)  # no manifest and no row
    found["scrubbed"] = swift.put()  # rows say deleted; the object stayed
    swift_rows(world, found["scrubbed"], swift.url(found["scrubbed"]))
    set_status(world, found["scrubbed"], "deleted", location_status="deleted")
    kept: list[str] = []
    live_dlo = swift.dlo(segments=3)
    kept.append(swift_rows(world, live_dlo, swift.url(live_dlo), deleted_ago=None))
    live_slo = swift.slo(segments=2)
    kept.append(swift_rows(world, live_slo, swift.url(live_slo), deleted_ago=None))
    pending = swift.put()  # waiting for the scrubber; its row carries the credentials
    kept.append(swift_rows(world, pending, swift.url_with_credentials(pending)))
    pending_dlo = swift.dlo(segments=2)
    kept.append(swift_rows(world, pending_dlo, swift.url_with_credentials(pending_dlo)))
    half_deleted = swift.dlo(segments=2, manifest=False)  # a failed delete took the manifest first
    kept.append(swift_rows(world, half_deleted, swift.url(half_deleted)))
    uploading = swift.dlo(segments=2, manifest=False)  # an upload in flight: segments, no manifest yet
    purge_locations(world, swift_rows(world, uploading, swift.url(uploading), deleted_ago=None))
    set_status(world, uploading, "saving")
    kept.append(uploading)
    seeded = f"{swift.container}_{uuid.uuid4().hex[:3]}"  # swift_store_multiple_containers_seed
    swift.client.put_container(seeded)
    in_seeded = swift.put(container=seeded)
    kept.append(swift_rows(world, in_seeded, swift.url(in_seeded, container=seeded), deleted_ago=None))
    return found, kept


def test_swift_every_kind_found_and_every_needed_piece_left_alone(swift_world: GlanceWorld, swift: SwiftSide) -> None:
    found, _kept = build_swift(swift_world, swift)
    foreign = swift.put(f"notes-{uuid.uuid4().hex[:6]}.txt")
    code, listing = orphans(swift_world, "--older-than", "0s")
    assert code == 0, listing
    listed = {item["url"]: item for item in listing}
    expected = {
        swift.url(found["purged"]): "unreferenced",
        swift.url(found["purged_dlo"]): "unreferenced",
        swift.url(found["lost_segments"]): "segments",
        swift.url(found["scrubbed"]): "deleted_rows_only",
        swift.url(foreign): "unreferenced",
    }
    assert {url: item["kind"] for url, item in listed.items()} == expected
    assert {url for url, item in listed.items() if item["reclaimable"]} == set(expected) - {swift.url(foreign)}
    assert "not a Glance image id" in " ".join(listed[swift.url(foreign)]["blockers"])
    assert listed[swift.url(found["purged_dlo"])]["bytes"] == 3 * 4096  # the manifest with its segments
    assert listed[swift.url(found["lost_segments"])]["bytes"] == 2 * 4096
    young = orphans(swift_world)[1]  # the default threshold (7 days): everything here is too young
    assert young and not any(item["reclaimable"] for item in young)


def test_swift_reclaim_erases_exactly_the_reclaimable_and_converges(swift_world: GlanceWorld, swift: SwiftSide) -> None:
    found, kept = build_swift(swift_world, swift)
    before = {name: swift.names(name) for name in kept}
    code, dry = reclaim(swift_world, "--older-than", "0s", "--dry-run")
    assert code == 0 and dry["summary"]["would_reclaim"] == 4, dry
    assert all(swift.names(name) for name in found.values())
    code, done = reclaim(swift_world, "--older-than", "0s", "--yes")
    assert code == 0, done
    assert done["summary"]["reclaimed"] == 4
    assert {item["result"] for item in done["orphans"]} == {"reclaimed"}
    for name in found.values():
        assert swift.names(name) == [], name  # the object, and every segment with it
    assert {name: swift.names(name) for name in kept} == before  # every needed piece, segments included
    code, again = reclaim(swift_world, "--older-than", "0s", "--yes")
    assert code == 0 and again["orphans"] == [] and again["summary"]["reclaimed"] == 0


def test_s3_every_kind_found_reclaimed_and_young_uploads_left_alone(
    s3_world: GlanceWorld, s3: S3Side, bucket: str
) -> None:
    purged = s3.put(bucket)  # rows written with the keys in the URL, then purged
    s3_world.image(image_id=purged, urls=[s3.url(bucket, purged, keys=True)], stores=[STORE])
    purge_locations(s3_world, purged)
    abandoned = str(uuid.uuid4())  # glance-api died mid-upload; nothing aborts the upload
    s3.incomplete_upload(bucket, abandoned)
    kept = [s3.put(bucket) for _ in range(3)]
    s3_world.image(image_id=kept[0], urls=[s3.url(bucket, kept[0], keys=True)], stores=[STORE], deleted_ago=None)
    s3_world.image(image_id=kept[1], urls=[s3.url(bucket, kept[1])], stores=[STORE])  # pending, no keys
    s3_world.image(image_id=kept[2], urls=[s3.url(bucket, kept[2], keys=True)], stores=[STORE])  # pending
    in_flight = str(uuid.uuid4())  # an upload in flight: the image is saving
    s3_world.image(image_id=in_flight, urls=[s3.url(bucket, in_flight)], stores=[STORE], deleted_ago=None)
    purge_locations(s3_world, in_flight)
    set_status(s3_world, in_flight, "saving")
    s3.incomplete_upload(bucket, in_flight)
    time.sleep(1.5)
    threshold = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # fixed, however long the runs take
    time.sleep(1.5)
    young = str(uuid.uuid4())  # begun after the threshold
    s3.incomplete_upload(bucket, young)
    code, listing = orphans(s3_world, "--older-than", threshold)
    assert code == 0, listing
    kinds = {(item["image_id"], item["kind"], item["reclaimable"]) for item in listing}
    assert kinds == {(purged, "unreferenced", True), (abandoned, "multipart", True), (young, "multipart", False)}
    assert any("too young" in blocker for item in listing if item["image_id"] == young for blocker in item["blockers"])
    code, done = reclaim(s3_world, "--older-than", threshold, "--yes")
    assert code == 0 and done["summary"]["reclaimed"] == 2, done
    assert sorted(s3.keys(bucket)) == sorted(kept)
    assert s3.uploads(bucket) == sorted([in_flight, young])
    code, again = reclaim(s3_world, "--older-than", threshold, "--yes")
    assert code == 0 and again["summary"]["reclaimed"] == 0


def test_two_concurrent_reclaims_erase_each_piece_once(
    swift_world: GlanceWorld, swift: SwiftSide, tmp_path: Path
) -> None:
    pieces = [swift.put() for _ in range(40)] + [swift.dlo(segments=2, manifest=False) for _ in range(5)]
    config = swift_world.config_file
    runs = []
    for index in range(2):
        audit = tmp_path / f"audit-{index}.jsonl"
        command = [sys.executable, "-m", "scrubctl", "--config-file", str(config), "orphans", "--store", STORE]
        command += ["--reclaim", "--yes", "--older-than", "0s", "-f", "json", "--audit-log", str(audit)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        runs.append((audit, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)))
    erased: list[str] = []
    for audit, process in runs:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()
        json.loads(stdout)
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        erased += [line["url"] for line in lines if line["result"] == "erased"]
    assert sorted(erased) == sorted(swift.url(name) for name in pieces)
    assert not any(swift.names(name) for name in pieces)


def test_a_multi_tenant_swift_store_is_named_not_scanned(swift_world: GlanceWorld) -> None:
    """Each image of a multi-tenant store lies in its owner's account, which the store's reference cannot
    list: the store is named as not scanned, and that is no outage (exit 0)."""
    swift_world.extra_config += "swift_store_multi_tenant = True\n"
    result = swift_world.cli("orphans", "--store", STORE, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert f"store {STORE} (swift) not scanned" in result.stderr and "multi-tenant" in result.stderr


def test_broken_names_a_live_image_whose_manifest_is_gone(swift_world: GlanceWorld, swift: SwiftSide) -> None:
    """A large object's segments share its manifest's key, but they are not the data a download reads:
    a usable image whose manifest is gone has lost its data, its segments notwithstanding."""
    headless = swift.dlo(segments=2, manifest=False)
    swift_rows(swift_world, headless, swift.url(headless), deleted_ago=None)
    whole = swift.dlo(segments=2)
    swift_rows(swift_world, whole, swift.url(whole), deleted_ago=None)
    result = swift_world.cli("broken", "-f", "json")
    assert result.stdout, result.stderr
    problems = {item["id"]: item["problem"] for item in json.loads(result.stdout)}
    assert problems == {headless: "data_missing"}
