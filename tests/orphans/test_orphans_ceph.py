"""``scrubctl orphans`` on the real Ceph cluster, in a pool of its own (nothing else's images are
listed, let alone reclaimed), on SQLite and MariaDB.

Every kind is found and nothing else: an RBD image that only an encrypted row names, a Nova-style image
registered under another image's id, a short ``rbd://<name>`` row, an upload in flight are not orphans;
a partial upload (no ``snap``), a purged image, a trash entry are (a trash entry no clone keeps is
removed from the trash). ``--reclaim --dry-run`` leaves the
rows and the pool as they were; ``--reclaim`` removes exactly the reclaimable images; a clone blocks its
parent, naming the child. ``broken`` finds an RBD image lost under a live row, and ``--repair`` links an
unlinked one back after hashing it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from scrubctl.glance.schema import images
from tests.orphans.test_orphans import purge_locations, set_status
from tests.support.ceph import Cluster, ceph_env, store_config
from tests.support.world import GlanceWorld

pytestmark = pytest.mark.ceph
KEY = "0123456789abcdef0123456789abcdef"


def remove_image(cluster: Cluster, name: str) -> None:
    """Remove an RBD image and its snapshots behind Glance's back (data lost under a live row)."""
    with cluster.rbd.Image(cluster.ioctx, name) as image:
        image.unprotect_snap("snap")
        image.remove_snap("snap")
    cluster.rbd.RBD().remove(cluster.ioctx, name)


def ceph_cli(cluster: Cluster, *args: str) -> None:
    subprocess.run(["ceph", "--conf", str(cluster.env.conf), *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def own_pool() -> Iterator[Cluster]:
    """A pool for this module only, on the test cluster, and admin access to it."""
    env = ceph_env()
    name = f"scrubctl-orphans-{uuid.uuid4().hex[:8]}"
    admin = Cluster(env)
    ceph_cli(admin, "osd", "pool", "create", name, "8", "8")
    ceph_cli(admin, "osd", "pool", "set", name, "size", "1", "--yes-i-really-mean-it")
    ceph_cli(admin, "osd", "pool", "application", "enable", name, "rbd")
    admin.close()
    cluster = Cluster(dataclasses.replace(env, pool=name))
    try:
        yield cluster
    finally:
        cluster.close()
        subprocess.run(
            ["ceph", "--conf", str(env.conf), "osd", "pool", "delete", name, name, "--yes-i-really-really-mean-it"],
            check=False,
            capture_output=True,
            timeout=120,
        )


@pytest.fixture
def pool(own_pool: Cluster) -> Iterator[Cluster]:
    try:
        yield own_pool
    finally:
        own_pool.cleanup()
        for entry in list(own_pool.rbd.RBD().trash_list(own_pool.ioctx)):
            own_pool.rbd.RBD().trash_remove(own_pool.ioctx, entry["id"], True)


@pytest.fixture
def ceph_world(world: GlanceWorld, pool: Cluster) -> GlanceWorld:
    """A world whose ``[glance_store]`` rbd store is the module's pool (scrubctl as client.admin)."""
    world.extra_config = store_config(pool.env, user="admin")
    return world


def orphans(world: GlanceWorld, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = world.cli("orphans", "-f", "json", "--store", "rbd", "--older-than", "0s", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def named(listing: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Listed RBD images by name (the third component of their URL)."""
    return {item["url"].split("/")[4]: item for item in listing}


def build(world: GlanceWorld, pool: Cluster) -> dict[str, str]:
    """One of each RBD kind and the look-alikes that are not orphans; returns orphan names by kind."""
    world.encryption_key = KEY  # every row is encrypted: a raw comparison would find only false orphans
    found = {"unreferenced": pool.glance_image()}
    purged = pool.glance(world)  # pending_delete, then its rows purged
    purge_locations(world, purged)
    found["purged"] = purged
    scrubbed = pool.glance(world)
    set_status(world, scrubbed, "deleted", location_status="deleted")
    found["deleted_rows_only"] = scrubbed
    found["partial_upload"] = pool.glance_image(snapshot=None)  # glance-api died mid-upload
    trashed = pool.glance_image(snapshot=None)
    pool.trash_move(trashed)
    found["trash"] = trashed
    unlinked = pool.glance_image()
    pool.row(world, image_id=unlinked)
    set_status(world, unlinked, "active")
    purge_locations(world, unlinked)
    found["unlinked"] = unlinked
    # Not orphans:
    pool.glance(world)  # pending_delete: the scrubber's
    nova = pool.glance_image()  # a Nova snapshot in the pool, registered under another image's id
    pool.row(world, pool.url(nova))
    short = pool.glance_image()  # named by a short rbd://<name> row
    pool.row(world, f"rbd://{short}")
    saving = pool.glance_image(snapshot=None)  # an upload in flight
    pool.row(world, image_id=saving)
    set_status(world, saving, "saving")
    purge_locations(world, saving)
    return found


def test_every_rbd_kind_and_nothing_else(ceph_world: GlanceWorld, pool: Cluster) -> None:
    found = build(ceph_world, pool)
    code, listing = orphans(ceph_world)
    assert code == 0
    listed = named(listing)
    expected = {name: kind for kind, name in found.items()}
    expected[found["purged"]] = "unreferenced"
    assert {name: item["kind"] for name, item in listed.items()} == expected
    reclaimable = {name for name, item in listed.items() if item["reclaimable"]}
    assert reclaimable == {found[kind] for kind in found if kind != "unlinked"}
    item = listed[found["purged"]]
    assert item["url"] == pool.url(found["purged"]) and item["image_id"] == found["purged"]
    assert item["bytes"] == 4 * 1024 * 1024 and item["created_at"].endswith("Z") and item["scheme"] == "rbd"
    assert listed[found["trash"]]["bytes"] == 4 * 1024 * 1024


def test_reclaim_dry_run_then_reclaim_on_ceph(ceph_world: GlanceWorld, pool: Cluster) -> None:
    found = build(ceph_world, pool)
    before, state = ceph_world.checksum(), pool.pool_state()
    dry = ceph_world.cli("orphans", "--reclaim", "--dry-run", "--older-than", "0s", "-f", "json")
    assert json.loads(dry.stdout)["summary"]["would_reclaim"] == 5, dry.stdout
    assert ceph_world.checksum() == before and pool.pool_state() == state
    done = ceph_world.cli("orphans", "--reclaim", "--yes", "--older-than", "0s", "-f", "json")
    document = json.loads(done.stdout)
    assert done.exit_code == 0, done.stdout
    results = {item["url"].split("/")[4]: item["result"] for item in document["orphans"]}
    reclaimed = {found[kind] for kind in found if kind != "unlinked"}
    assert results == dict.fromkeys(reclaimed, "reclaimed")
    assert not reclaimed & pool.names() and found["trash"] not in pool.trash_names()
    assert found["unlinked"] in pool.names()
    _code, listing = orphans(ceph_world)
    assert set(named(listing)) == {found["unlinked"]}


def test_a_clone_blocks_its_orphan_parent_naming_the_child(ceph_world: GlanceWorld, pool: Cluster) -> None:
    parent = pool.glance_image()
    child = pool.clone(parent)
    _code, listing = orphans(ceph_world)
    item = named(listing)[parent]
    assert not item["reclaimable"]
    assert any(f"{pool.env.pool}/{child}" in blocker for blocker in item["blockers"]), item
    done = ceph_world.cli("orphans", "--reclaim", "--yes", "--older-than", "0s", "-f", "json")
    assert done.exit_code == 1
    results = {entry["url"].split("/")[4]: entry for entry in json.loads(done.stdout)["orphans"]}
    assert results[parent]["result"] == "blocked" and f"{pool.env.pool}/{child}" in results[parent]["reason"]
    assert parent in pool.names() and child in pool.names()  # the child is not named like Glance's: kept
    assert pool.snapshots(parent) == [("snap", 0, True)]
    assert not named(listing)[child]["reclaimable"]


def test_broken_finds_and_repairs_rbd_images(ceph_world: GlanceWorld, pool: Cluster) -> None:
    unlinked = pool.glance_image()
    pool.row(ceph_world, image_id=unlinked)
    data = pool.read(unlinked, 4 * 1024 * 1024)
    with ceph_world.engine.begin() as connection:
        connection.execute(
            update(images)
            .where(images.c.id == unlinked)
            .values(
                status="active",
                deleted=False,
                deleted_at=None,
                checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                os_hash_algo="sha512",
                os_hash_value=hashlib.sha512(data).hexdigest(),
            )
        )
    purge_locations(ceph_world, unlinked)
    lost = pool.glance_image()
    pool.row(ceph_world, image_id=lost)
    set_status(ceph_world, lost, "active")
    with ceph_world.engine.begin() as connection:
        connection.exec_driver_sql(
            f"UPDATE image_locations SET deleted = 0, status = 'active' WHERE image_id = '{lost}'"
        )
        connection.execute(update(images).where(images.c.id == lost).values(deleted=False, deleted_at=None))
    remove_image(pool, lost)
    listing = json.loads(ceph_world.cli("broken", "-f", "json").stdout)
    assert {(item["id"], item["problem"]) for item in listing} == {(unlinked, "unlinked"), (lost, "data_missing")}
    done = ceph_world.cli("broken", "--repair", "-f", "json", unlinked)
    assert done.exit_code == 0, done.stdout
    assert json.loads(done.stdout)["images"][0]["locations_linked"] == 1
    live = [row for row in ceph_world.rows("image_locations", unlinked) if not row["deleted"]]
    assert [row["status"] for row in live] == ["active"] and live[0]["meta_data"] == "{}"
    assert {item["id"] for item in json.loads(ceph_world.cli("broken", "-f", "json").stdout)} == {lost}
