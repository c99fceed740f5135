"""What a scrub counts: --max-delete, the dry run's summary, and images two runs both planned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import update

from scrubctl.glance.schema import image_locations
from tests.support.world import GlanceWorld


def scrub(world: GlanceWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.cli("scrub", "--yes", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_max_delete_counts_the_images_whose_data_would_be_erased(world: GlanceWorld) -> None:
    erasable = [world.image() for _ in range(6)]
    shared = world.image()  # blocked: a live image uses its data
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    refused = world.cli("scrub", "--yes", "--max-delete", "5")
    assert refused.exit_code == 1
    assert "the plan erases the data of 6 images, more than --max-delete 5" in refused.stderr
    assert all(world.data_file(image).exists() for image in erasable)
    code, document = scrub(world, "--max-delete", "6")
    assert code == 4  # the blocked image (nothing failed)
    assert (document["summary"]["scrubbed"], document["summary"]["blocked"]) == (6, 1)
    assert not any(world.data_file(image).exists() for image in erasable)
    assert world.data_file(shared).exists()


def test_max_delete_counts_a_blocked_image_whose_other_location_is_erased(world: GlanceWorld) -> None:
    partly = world.image(stores=["fast", "archive"])  # its fast copy is shared, its archive copy is erased
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(partly)}"])
    refused = world.cli("scrub", "--yes", "--max-delete", "0")
    assert refused.exit_code == 1
    assert "the plan erases the data of 1 images" in refused.stderr
    assert world.data_file(partly, "archive").exists()


def test_a_dry_run_erases_no_location(world: GlanceWorld) -> None:
    gone = world.image()
    world.data_file(gone).unlink()
    world.image(stores=["fast", "archive"])
    code, document = scrub(world, "--dry-run")
    assert code == 0
    summary = document["summary"]
    assert (summary["would_scrub"], summary["locations_erased"], summary["locations_already_gone"]) == (2, 0, 1)
    code, document = scrub(world)
    assert code == 0
    assert (document["summary"]["locations_erased"], document["summary"]["locations_already_gone"]) == (3, 1)


def _plan_now(world: GlanceWorld) -> tuple[Any, Any]:
    """A plan made now by a run of its own (its application and plan), to be applied later."""
    from scrubctl.app import Application
    from scrubctl.engine.planner import ScrubSelection, build_plan

    app = Application(config_files=(world.config_file,))
    with app.database().connect() as connection:
        plan = build_plan(
            connection, app.pending_queue(), app.decoder(), ScrubSelection(), check_encrypted_sharing=False
        )
    return app, plan


def _apply(app: Any, plan: Any, deleters: Any = None) -> Any:
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.model import RunOptions
    from scrubctl.engine.runner import ScrubRunner

    try:
        return ScrubRunner(app.database(), deleters or DeleterPool(app.registry)).run(plan, RunOptions(dry_run=False))
    finally:
        app.close()


def test_images_another_run_scrubbed_after_this_one_planned_are_counted_once(world: GlanceWorld) -> None:
    """Two runs plan the same images; the first scrubs them all, then the second applies its plan:
    the pending location of an active image is the first run's, not scrubbed twice (once with 0 bytes)."""
    live = world.image(deleted_ago=None, stores=["fast", "archive"], size=3000)
    world.delete_from_store(live, "archive")
    pending = world.image(size=5000)
    second, stale_plan = _plan_now(world)
    code, first = scrub(world)
    assert code == 0
    assert {item["id"]: item["result"] for item in first["images"]} == {live: "scrubbed", pending: "scrubbed"}
    report = _apply(second, stale_plan)
    assert report.images == []
    assert (report.summary.scrubbed, report.summary.taken_by_other_run, report.summary.bytes_erased) == (0, 2, 0)
    assert first["summary"]["scrubbed"] + report.summary.scrubbed == 2
    assert first["summary"]["bytes_erased"] + report.summary.bytes_erased == 8000
    assert world.location_statuses(live) == ["active", "deleted"]
    assert world.data_file(live, "fast").exists()


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_a_location_recorded_by_another_run_during_the_erase_is_counted_once(world: GlanceWorld) -> None:
    """Another writer (a run whose claim expired, glance-scrubber) records the location while this run
    erases it, in the same second: this run's guarded update changes 0 rows, so the location and its
    bytes are the other run's, and the image is counted as taken by another run, not as scrubbed.
    MariaDB only: on SQLite the other writer would wait for this run's write lock."""
    from scrubctl.backends import DeleterPool, DeleterRegistry
    from scrubctl.backends.base import EraseResult
    from scrubctl.backends.file import FileDeleter
    from scrubctl.settings.utc import glance_timestamp

    live = world.image(deleted_ago=None, stores=["fast", "archive"], size=3000)
    location = world.delete_from_store(live, "archive")
    pending = world.image(stores=["fast", "archive"], size=5000)
    raced = world.rows("image_locations", pending)[1]["id"]

    class OtherRunRecordsFirst(FileDeleter):
        def erase(self, url: str, *, dry_run: bool) -> EraseResult:
            result = super().erase(url, dry_run=dry_run)
            if "/archive/" in url:  # the other run has erased it and records it, stamping this second
                with world.engine.begin() as connection:
                    connection.execute(
                        update(image_locations)
                        .where(image_locations.c.id.in_([location, raced]))
                        .values(status="deleted", deleted=True, updated_at=glance_timestamp())
                    )
            return result

    registry = DeleterRegistry({"file": "tests.engine.test_scrub_counts:_unused"})
    registry._loaded["file"] = OtherRunRecordsFirst
    app, plan = _plan_now(world)
    report = _apply(app, plan, DeleterPool(registry))
    assert report.summary.taken_by_other_run == 1  # the active image: its one pending location
    assert [(image.id, image.result.value) for image in report.images] == [(pending, "scrubbed")]
    assert report.images[0].bytes == report.summary.bytes_erased == 5000  # its fast copy only
    assert [location.id for location in report.images[0].locations] == [world.rows("image_locations", pending)[0]["id"]]
    assert world.status(pending) == "deleted"
    assert world.status(live) == "active"


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_two_concurrent_runs_count_each_erase_once(world: GlanceWorld) -> None:
    """Two real runs at once: between them every image is scrubbed exactly once (the pending
    locations of active images included), its bytes counted once, and the rest taken by the other run."""
    lives = []
    for _ in range(5):
        live = world.image(deleted_ago=None, stores=["fast", "archive"], size=1000)
        world.delete_from_store(live, "archive")
        lives.append(live)
    pending = [world.image(size=2000) for _ in range(20)]
    env = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(world.config_file)}
    command = [sys.executable, "-m", "scrubctl", "scrub", "--yes", "-f", "json", "--concurrency", "2"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    documents = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        documents.append(json.loads(stdout))
    scrubbed = [item["id"] for document in documents for item in document["images"] if item["result"] == "scrubbed"]
    assert sorted(scrubbed) == sorted(lives + pending)  # each exactly once
    summaries = [document["summary"] for document in documents]
    assert sum(summary["scrubbed"] for summary in summaries) == 25
    for summary in summaries:  # a run that planned an image either scrubbed it or left it to the other
        assert summary["scrubbed"] + summary["taken_by_other_run"] == summary["selected"]
    assert sum(summary["bytes_erased"] for summary in summaries) == 5 * 1000 + 20 * 2000
    assert {world.status(image) for image in lives} == {"active"}
    assert {world.status(image) for image in pending} == {"deleted"}
