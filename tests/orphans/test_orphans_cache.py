"""``scrubctl orphans`` on Glance's image cache of this node, laid out as glance-api 2024.1 and later
write it with the ``centralized_db`` driver: ``<image_cache_dir>/<id>`` with a ``cached_images`` row of
the node (``node_reference`` holds its ``worker_self_reference_url``), ``incomplete/``, ``invalid/``,
``queue/``, and the SQLite driver's ``cache.db`` left from before. On SQLite and MariaDB.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from scrubctl.glance.image_cache import cached_images, node_reference
from tests.orphans.test_orphans import purge_locations, set_status
from tests.support.world import GlanceWorld

THIS_NODE = "http://controller-1:9292"
OTHER_NODE = "http://controller-2:9292"
OLD = time.time() - 30 * 86400


def node(world: GlanceWorld, url: str) -> int:
    with world.engine.begin() as connection:
        connection.execute(insert(node_reference).values(node_reference_url=url))
        found = connection.execute(
            select(node_reference.c.node_reference_id).where(node_reference.c.node_reference_url == url)
        ).scalar_one()
    return int(found)


def cached(world: GlanceWorld, cache: Path, image_id: str, *nodes: int, sub: str = "", old: bool = True) -> Path:
    """A cached file as the driver writes it, and a ``cached_images`` row for each of ``nodes``."""
    folder = cache / sub if sub else cache
    path = folder / image_id
    path.write_bytes(b"" if sub == "queue" else os.urandom(2048))
    if old:
        os.utime(path, (OLD, OLD))
    now = datetime(2026, 11, 1, 12, 0, 0)
    with world.engine.begin() as connection:
        for node_id in nodes:
            connection.execute(
                insert(cached_images).values(
                    image_id=image_id,
                    last_accessed=now,
                    last_modified=now,
                    size=2048,
                    hits=3,
                    node_reference_id=node_id,
                )
            )
    return path


def rows(world: GlanceWorld) -> set[tuple[str, int]]:
    with world.engine.connect() as connection:
        found = connection.execute(select(cached_images.c.image_id, cached_images.c.node_reference_id)).all()
    return {(str(image_id), int(node_id)) for image_id, node_id in found}


def orphans(world: GlanceWorld, *args: str) -> tuple[int, Any]:
    result = world.cli("orphans", "--store", "image_cache", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def build(world: GlanceWorld) -> tuple[Path, dict[str, Path], list[Path], int, int]:
    """This node's cache: the orphans by name, and every file that must stay."""
    cache = world.root / "image-cache"
    for sub in ("", "incomplete", "invalid", "queue"):
        (cache / sub).mkdir(parents=True, exist_ok=True)
    world.extra_config = f"\n[DEFAULT]\nimage_cache_dir = {cache}\nworker_self_reference_url = {THIS_NODE}\n"
    here, there = node(world, THIS_NODE), node(world, OTHER_NODE)
    deleted = world.image(deleted_ago=timedelta(days=40))
    set_status(world, deleted, "deleted", location_status="deleted")
    pending = world.image()
    purged = world.image(deleted_ago=None)
    purge_locations(world, purged)
    with world.engine.begin() as connection:
        from scrubctl.glance.schema import images

        connection.execute(images.delete().where(images.c.id == purged))
    active = world.image(deleted_ago=None)
    found = {
        "deleted": cached(world, cache, deleted, here, there),  # the other node's copy is its own to scan
        "pending": cached(world, cache, pending, here),
        "purged": cached(world, cache, purged),  # image row and cache row gone
        "incomplete": cached(world, cache, deleted, sub="incomplete"),
        "queued": cached(world, cache, pending, sub="queue"),
    }
    unrecorded = cached(world, cache, active, there, sub="")  # a copy of a usable image no row of this node names
    stale = cached(world, cache, active, sub="invalid")  # failed caching of a usable image
    kept = [
        cached(world, cache, world.image(deleted_ago=None), here),  # a usable copy, recorded
        cached(world, cache, world.image(deleted_ago=None), sub="incomplete", old=False),  # being cached now
        cached(world, cache, world.image(deleted_ago=None), sub="queue"),  # waiting to be cached
        cache / "cache.db",  # the SQLite driver's database, from before 2024.1
        unrecorded,
        stale,
    ]
    kept[3].write_bytes(b"SQLite format 3\0")
    return cache, found, kept, here, there


def test_every_cached_orphan_found_and_usable_copies_left_alone(world: GlanceWorld) -> None:
    _cache, found, kept, _here, _there = build(world)
    code, listing = orphans(world)
    assert code == 0, listing
    listed = {item["url"]: item for item in listing}
    reclaimable = {url for url, item in listed.items() if item["reclaimable"]}
    assert reclaimable == {f"file://{path}" for path in found.values()}
    blocked = {url: item["blockers"] for url, item in listed.items() if not item["reclaimable"]}
    assert set(blocked) == {f"file://{kept[4]}", f"file://{kept[5]}"}
    assert all("never reclaimed" in " ".join(reasons) for reasons in blocked.values())
    assert {item["kind"] for item in listing} == {"cache"} and {item["store"] for item in listing} == {"image_cache"}


def test_reclaim_removes_the_file_and_this_nodes_row_only_and_converges(world: GlanceWorld) -> None:
    _cache, found, kept, here, there = build(world)
    deleted_id = found["deleted"].name
    code, dry = world_reclaim(world, "--dry-run")
    assert code == 1 and dry["summary"]["would_reclaim"] == 5  # 1: the two copies of a usable image are blocked
    assert all(path.exists() for path in found.values())
    code, done = world_reclaim(world, "--yes")
    assert code == 1 and done["summary"]["reclaimed"] == 5, done
    assert not any(path.exists() for path in found.values())
    assert all(path.exists() for path in kept)
    left = rows(world)
    assert (deleted_id, here) not in left and (deleted_id, there) in left
    assert (found["pending"].name, here) not in left
    assert len(left) == 3  # the deleted image's on the other node, the usable copies' rows
    code, again = world_reclaim(world, "--yes")
    assert again["summary"]["reclaimed"] == 0 and again["summary"]["blocked"] == 2


def test_without_this_nodes_reference_only_copies_of_gone_images_are_listed(world: GlanceWorld) -> None:
    cache = world.root / "image-cache"
    cache.mkdir()
    world.extra_config = f"\n[DEFAULT]\nimage_cache_dir = {cache}\n"
    gone = cached(world, cache, str(uuid.uuid4()))
    cached(world, cache, world.image(deleted_ago=None))
    _code, listing = orphans(world)
    assert [item["url"] for item in listing] == [f"file://{gone}"]


def world_reclaim(world: GlanceWorld, *args: str) -> tuple[int, Any]:
    result = world.cli("orphans", "--store", "image_cache", "--reclaim", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)
