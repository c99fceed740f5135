"""The rbd deleter on a real Ceph cluster, through ``scrubctl`` on SQLite and MariaDB.

What an operator would notice: what ``rbd ls`` / ``rbd trash ls`` list, the rows, the exit codes, and
the reasons given for images left pending.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.rbd import RbdDeleter
from scrubctl.errors import BackendUnavailableError
from scrubctl.settings.config import load_settings
from tests.support.ceph import (  # the *_fixture imports register the fixtures ceph, rbd_world...
    IMAGE_BYTES,
    Cluster,
    held_open,
    stopped_monitor,
    store_config,
)
from tests.support.world import GlanceWorld

pytestmark = pytest.mark.ceph


def scrub(world: GlanceWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.cli("scrub", "--yes", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in document["images"]}


def assert_pending(world: GlanceWorld, image: str) -> None:
    assert world.status(image) == "pending_delete"
    assert world.location_statuses(image) == ["pending_delete"]


def assert_deleted(world: GlanceWorld, image: str) -> None:
    assert world.status(image) == "deleted"
    assert world.location_statuses(image) == ["deleted"]


def test_scrub_removes_image_and_snapshot(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = ceph.glance(rbd_world)
    assert ceph.snapshots(image) == [("snap", 0, True)]
    code, document = scrub(rbd_world)
    assert code == 0, document
    assert by_id(document)[image]["result"] == "scrubbed"
    assert by_id(document)[image]["bytes"] == IMAGE_BYTES
    assert image not in ceph.names()
    assert image not in ceph.trash_names()
    assert_deleted(rbd_world, image)
    again_code, again = scrub(rbd_world)
    assert (again_code, again["images"]) == (0, [])


def test_many_images_with_several_workers(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    images = [ceph.glance(rbd_world) for _ in range(12)]
    code, document = scrub(rbd_world, "--concurrency", "6")
    assert code == 0, document
    assert {item["result"] for item in document["images"]} == {"scrubbed"}
    assert not set(images) & ceph.names()
    assert all(rbd_world.status(image) == "deleted" for image in images)


def test_clones_block_until_flattened_or_removed(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = ceph.glance(rbd_world)
    flattened, removed, trashed = ceph.clone(image), ceph.clone(image), ceph.clone(image)
    ceph.trash_move(trashed)
    data = ceph.read(flattened, IMAGE_BYTES)
    code, document = scrub(rbd_world)
    assert code == 4
    reason = by_id(document)[image]["reason"]
    assert by_id(document)[image]["result"] == "blocked"
    assert "3 clone(s)" in reason
    for child in (flattened, removed):
        assert f"images/{child}" in reason
    assert f"images/{trashed} (in the RBD trash)" in reason
    assert_pending(rbd_world, image)
    assert ceph.snapshots(image) == [("snap", 0, True)]  # untouched, still protected
    ceph.flatten(flattened)
    ceph.remove(removed)
    code, document = scrub(rbd_world)
    reason = by_id(document)[image]["reason"]
    assert (code, by_id(document)[image]["result"]) == (4, "blocked")
    assert "1 clone(s)" in reason and trashed in reason and flattened not in reason and removed not in reason
    ceph.trash_remove(trashed)
    code, document = scrub(rbd_world)
    assert (code, by_id(document)[image]["result"]) == (0, "scrubbed")
    assert image not in ceph.names()
    assert ceph.read(flattened, IMAGE_BYTES) == data  # the flattened clone lives on, parentless
    assert_deleted(rbd_world, image)


def test_clone_v2_children_block_before_anything_is_touched(
    rbd_world: GlanceWorld, ceph: Cluster, compat_client: Callable[[str], None]
) -> None:
    # Under clone v2 Glance's blind sequence unprotects and trashes the snapshot, then fails on remove.
    compat_client("mimic")
    image = ceph.glance(rbd_world)
    child = ceph.clone(image)
    code, document = scrub(rbd_world)
    assert (code, by_id(document)[image]["result"]) == (4, "blocked")
    assert f"images/{child}" in by_id(document)[image]["reason"]
    assert ceph.snapshots(image) == [("snap", 0, True)]
    assert_pending(rbd_world, image)


def test_trash_policy_with_clone_v2_leaves_the_parent_only_in_the_trash(
    rbd_world: GlanceWorld, ceph: Cluster, compat_client: Callable[[str], None]
) -> None:
    compat_client("mimic")
    image = ceph.glance(rbd_world)
    child = ceph.clone(image)
    before = ceph.read(child, IMAGE_BYTES)
    code, document = scrub(rbd_world, "--rbd-clones", "trash")
    assert code == 0, document
    result = by_id(document)[image]
    assert result["result"] == "scrubbed"
    assert "moved to RBD trash, 1 clone remains" in result["reason"]
    assert image not in ceph.names()
    assert image in ceph.trash_names()
    assert ceph.read(child, IMAGE_BYTES) == before  # the clone still reads its trashed parent
    assert_deleted(rbd_world, image)
    ceph.remove(child)  # the trashed snapshot goes with the last clone; the trash entry can then be purged
    ceph.trash_remove(image)
    assert image not in ceph.trash_names()


def test_trash_policy_keeps_clones_made_before_clone_v2(
    rbd_world: GlanceWorld, ceph: Cluster, compat_client: Callable[[str], None]
) -> None:
    # Nova's clones from before the switch to mimic are format 1: they need the snapshot protected.
    compat_client("luminous")
    image = ceph.glance(rbd_world)
    child = ceph.clone(image)
    compat_client("mimic")
    code, document = scrub(rbd_world, "--rbd-clones", "trash")
    assert (code, by_id(document)[image]["result"]) == (4, "blocked")
    assert "format 1 clones need it protected" in by_id(document)[image]["reason"]
    assert ceph.snapshots(image) == [("snap", 0, True)]
    assert image in ceph.names() and image not in ceph.trash_names()
    assert ceph.read(child)  # the clone still reads its parent
    assert_pending(rbd_world, image)


def test_trash_policy_without_clone_v2_blocks(
    rbd_world: GlanceWorld, ceph: Cluster, compat_client: Callable[[str], None]
) -> None:
    compat_client("luminous")
    image = ceph.glance(rbd_world)
    child = ceph.clone(image)
    code, document = scrub(rbd_world, "--rbd-clones", "trash")
    assert (code, by_id(document)[image]["result"]) == (4, "blocked")
    reason = by_id(document)[image]["reason"]
    assert "clone v2 not enabled: require_min_compat_client is luminous" in reason
    assert f"images/{child}" in reason
    assert ceph.snapshots(image) == [("snap", 0, True)]
    assert image not in ceph.trash_names()
    assert_pending(rbd_world, image)


def test_a_watcher_blocks_with_its_address(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = ceph.glance(rbd_world)
    with held_open(ceph.env, image):
        watchers = ceph.watchers(image)
        assert len(watchers) == 1
        code, document = scrub(rbd_world)
        assert (code, by_id(document)[image]["result"]) == (4, "blocked")
        assert watchers[0] in by_id(document)[image]["reason"]
        assert image in ceph.names()
        assert_pending(rbd_world, image)
    code, document = scrub(rbd_world)
    assert (code, by_id(document)[image]["result"]) == (0, "scrubbed")
    assert image not in ceph.names()


def test_an_image_already_removed_counts_as_erased(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = ceph.row(rbd_world)  # no RBD image behind it
    code, document = scrub(rbd_world)
    assert code == 0, document
    assert by_id(document)[image]["result"] == "scrubbed"
    assert by_id(document)[image]["locations"][0]["outcome"] == "already_gone"
    assert_deleted(rbd_world, image)


def test_urls_this_store_must_not_follow_are_refused(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    target = ceph.glance_image()
    other_cluster = ceph.row(rbd_world, ceph.url(target, fsid=str(uuid.uuid4())))
    missing_pool = ceph.row(rbd_world, ceph.url(target, pool="no-such-pool"))
    unreadable_pool = ceph.row(rbd_world, ceph.url(target, pool="device_health_metrics"))
    malformed = ceph.row(rbd_world, f"rbd://{ceph.env.fsid}/images/{target}")
    code, document = scrub(rbd_world)
    assert code == 4
    results = by_id(document)
    expected = {
        other_cluster: "names Ceph cluster",
        missing_pool: "pool no-such-pool named by the URL does not exist",
        unreadable_pool: "not readable by client.glance",
        malformed: "exactly 1 or 4 components",
    }
    for image, reason in expected.items():
        assert results[image]["result"] == "blocked", results[image]
        assert reason in results[image]["reason"], (reason, results[image]["reason"])
        assert_pending(rbd_world, image)
    assert ceph.snapshots(target) == [("snap", 0, True)]


def test_the_one_component_url_form(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = ceph.glance_image(snapshot=None)  # as Glance wrote them before it snapshotted images
    ceph.row(rbd_world, f"rbd://{image}", image_id=image)
    code, document = scrub(rbd_world)
    assert code == 0, document
    assert by_id(document)[image]["result"] == "scrubbed"
    assert image not in ceph.names()
    assert_deleted(rbd_world, image)


def test_dry_run_leaves_the_pool_untouched(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    plain = ceph.glance(rbd_world)
    cloned = ceph.glance(rbd_world)
    ceph.clone(cloned)
    before_pool, before_rows = ceph.pool_state(), rbd_world.checksum()
    code, document = scrub(rbd_world, "--dry-run")
    assert code == 4
    assert by_id(document)[plain]["result"] == "would_scrub"
    assert by_id(document)[plain]["bytes"] == IMAGE_BYTES
    assert by_id(document)[cloned]["result"] == "blocked"
    assert (ceph.pool_state(), rbd_world.checksum()) == (before_pool, before_rows)


def test_show_names_clone_blockers(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = ceph.glance(rbd_world)
    child = ceph.clone(image)
    result = rbd_world.cli("show", image, "-f", "json")
    assert result.exit_code == 0, result.stderr
    blockers = json.loads(result.stdout)["locations"][0]["blockers"]
    assert any(f"images/{child}" in blocker for blocker in blockers), blockers


def test_check_passes_and_fails_with_a_wrong_key_or_user(rbd_world: GlanceWorld, ceph: Cluster, tmp_path: Path) -> None:
    passed = rbd_world.cli("check")
    assert passed.exit_code == 0, passed.stdout + passed.stderr
    assert "store rbd (rbd)" in passed.stdout
    key = subprocess.run(["ceph-authtool", "--gen-print-key"], capture_output=True, text=True, check=True).stdout
    keyring = tmp_path / "wrong.keyring"
    keyring.write_text(f"[client.glance]\n\tkey = {key.strip()}\n")
    conf = tmp_path / "ceph.conf"
    conf.write_text(ceph.env.conf.read_text().replace(str(ceph.env.keyring), str(keyring)))
    rbd_world.extra_config = store_config(ceph.env, conf=conf)
    wrong_key = rbd_world.cli("check")
    assert wrong_key.exit_code == 3
    assert "authentication refused" in wrong_key.stdout
    assert key.strip() not in wrong_key.stdout + wrong_key.stderr
    rbd_world.extra_config = store_config(ceph.env, user="nobody")
    wrong_user = rbd_world.cli("check")
    assert wrong_user.exit_code == 3
    assert "client.nobody" in wrong_user.stdout


def test_a_stopped_monitor_ends_the_run_within_the_timeout(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    images = [ceph.glance(rbd_world) for _ in range(3)]
    rbd_world.extra_config = store_config(ceph.env, timeout=5)
    before = rbd_world.checksum()
    with stopped_monitor(ceph.env):
        started = time.monotonic()
        code, document = scrub(rbd_world, "--concurrency", "2")
        elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed
    assert code == 3, document
    assert document["summary"]["unreachable"]
    assert {by_id(document)[image]["result"] for image in images} == {"failed"}
    assert rbd_world.checksum() == before
    assert all(ceph.snapshots(image) == [("snap", 0, True)] for image in images)


def test_a_monitor_lost_after_connecting_does_not_hang_unprotect(ceph: Cluster, tmp_path: Path) -> None:
    # unprotect_snap waits forever for a monitor; the deleter asks the monitors first, bounded by the timeout.
    config = tmp_path / "glance-api.conf"
    config.write_text("[database]\nconnection = sqlite://\n" + store_config(ceph.env, timeout=5))
    store = load_settings([config], None).store(None, "rbd")
    image = ceph.glance_image()
    deleter = RbdDeleter(store, {})
    try:
        assert deleter.exists(ceph.url(image))
        with stopped_monitor(ceph.env):
            started = time.monotonic()
            with pytest.raises(BackendUnavailableError, match="monitors did not answer"):
                deleter.erase(ceph.url(image), dry_run=False)
            assert time.monotonic() - started < 15
            with pytest.raises(BackendUnavailableError):  # the store stays down for the run, at once
                deleter.blockers(ceph.url(image))
    finally:
        deleter.close()
    assert ceph.snapshots(image) == [("snap", 0, True)]


def test_exists_reports_image_and_snapshot(ceph: Cluster, tmp_path: Path) -> None:
    config = tmp_path / "glance-api.conf"
    config.write_text("[database]\nconnection = sqlite://\n" + store_config(ceph.env))
    deleter = RbdDeleter(load_settings([config], None).store(None, "rbd"), {})
    try:
        image = ceph.glance_image()
        bare = ceph.glance_image(snapshot=None)
        assert deleter.exists(ceph.url(image))
        assert not deleter.exists(ceph.url(bare))  # the snapshot the URL names is missing
        assert deleter.exists(f"rbd://{bare}")
        assert not deleter.exists(ceph.url(str(uuid.uuid4())))
        with pytest.raises(LocationBlocked, match="names Ceph cluster"):
            deleter.exists(ceph.url(image, fsid=str(uuid.uuid4())))
    finally:
        deleter.close()


def test_an_unreachable_monitor_is_scrubctls_one_line_and_no_line_of_libradoss(
    rbd_world: GlanceWorld, ceph: Cluster, tmp_path: Path
) -> None:
    """librados writes its own lines from C straight to stderr when the Ceph configuration asks for it
    (``monclient(hunting): authenticate timed out after 3``): none of them without ``--debug``."""
    image = ceph.glance(rbd_world)
    with socket.socket() as probe:  # a port just released: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loud = f"mon_host = [v2:127.0.0.1:{port}]\nlog_to_stderr = true\nerr_to_stderr = true"
    conf = tmp_path / "ceph.conf"
    conf.write_text(re.sub(r"(?m)^mon_host = .*$", loud, ceph.env.conf.read_text()))
    rbd_world.extra_config = store_config(ceph.env, conf=conf, timeout=3)
    environment = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(rbd_world.config_file)}
    outputs = {}
    for debug in ((), ("--debug",)):
        done = subprocess.run(
            [sys.executable, "-m", "scrubctl", *debug, "scrub", "--yes"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 3, done.stderr
        outputs[debug] = done.stderr
    lines = outputs[()].splitlines()
    assert all(line.startswith(("<", "scrubctl: ")) for line in lines), lines  # scrubctl's lines only
    assert lines[-1].startswith("scrubctl: unreachable: store rbd: Ceph cluster of store rbd ("), lines
    assert "no answer from the Ceph monitors within 3 s" in lines[-1]
    assert "monclient" in outputs[("--debug",)]  # librados' own line, let through under --debug
    assert_pending(rbd_world, image)
