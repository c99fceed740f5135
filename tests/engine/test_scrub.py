"""scrub on SQLite and MariaDB with real files: what an operator would notice (rows, files, exit codes)."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from scrubctl.backends.base import EraseOutcome
from scrubctl.backends.file import FileDeleter
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.schema import image_locations
from scrubctl.output.views import human_duration
from scrubctl.settings.config import load_settings
from tests.support.world import GlanceWorld


def scrub(world: GlanceWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.cli("scrub", "--yes", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def results(document: dict[str, Any]) -> dict[str, str]:
    return {item["id"]: item["result"] for item in document["images"]}


def make_undeletable(path: Path) -> None:
    if os.geteuid() != 0:
        path.parent.chmod(0o555)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file undeletable here: {done.stderr.decode().strip()}")


def make_deletable(path: Path) -> None:
    if os.geteuid() != 0:
        path.parent.chmod(0o755)
    else:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_dry_run_changes_nothing(world: GlanceWorld) -> None:
    world.image(stores=["fast", "archive"])
    world.image(stores=[None])
    active = world.image(deleted_ago=None, stores=["fast", "archive"])
    world.delete_from_store(active, "archive")
    world.image(urls=["file:///etc/hostname"], write_files=False)
    before = world.checksum()
    code, document = scrub(world, "--dry-run")
    assert world.checksum() == before
    assert code == 4  # the path outside the store is blocked, nothing failed
    assert sorted(results(document).values()) == ["blocked", "would_scrub", "would_scrub", "would_scrub"]
    assert document["summary"]["dry_run"] is True
    table = world.cli("scrub", "--dry-run")
    assert "dry run" in table.stdout
    assert world.checksum() == before


def test_full_scrub_writes_rows_as_glance_does(world: GlanceWorld) -> None:
    image = world.image(stores=["fast", "archive"], size=10000)
    before = world.rows("images", image)[0]
    locations_before = world.rows("image_locations", image)
    code, document = scrub(world)
    assert code == 0
    assert results(document) == {image: "scrubbed"}
    assert document["images"][0]["bytes"] == 20000
    assert not world.data_file(image, "fast").exists()
    assert not world.data_file(image, "archive").exists()
    after = world.rows("images", image)[0]
    assert after["status"] == "deleted"
    assert after["deleted"] in (1, True)
    assert after["deleted_at"] == before["deleted_at"]
    assert after["updated_at"] >= before["updated_at"]
    for old, new in zip(locations_before, world.rows("image_locations", image), strict=True):
        assert new["status"] == "deleted"
        assert new["deleted"] in (1, True)
        assert new["deleted_at"] > old["deleted_at"]
    again_code, again = scrub(world)
    assert again_code == 0
    assert again["images"] == []


def test_selection_rules(world: GlanceWorld) -> None:
    world.scrub_time = 86400
    due = world.image(deleted_ago=timedelta(days=3))
    fresh = world.image(deleted_ago=timedelta(hours=2))
    other_owner = world.image(deleted_ago=timedelta(days=5))
    with world.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE images SET owner = 'other' WHERE id = '{other_owner}'")
    code, document = scrub(world, "--dry-run")
    assert code == 0
    assert set(results(document)) == {due, other_owner}
    _, document = scrub(world, "--dry-run", "--older-than", "1h")
    assert set(results(document)) == {due, fresh, other_owner}
    _, document = scrub(world, "--dry-run", "--image", fresh)
    assert set(results(document)) == {fresh}
    _, document = scrub(world, "--dry-run", "--owner", "other")
    assert set(results(document)) == {other_owner}
    _, document = scrub(world, "--dry-run", "--limit", "1")
    assert set(results(document)) == {other_owner}  # oldest first
    refused = world.cli("scrub", "--yes", "--max-delete", "1")
    assert refused.exit_code == 1
    assert "--max-delete" in refused.stderr
    assert world.data_file(due).exists()


def test_named_images_not_in_the_queue_are_reported(world: GlanceWorld) -> None:
    active = world.image(deleted_ago=None)
    code, document = scrub(world, "--image", active, "--image", "4a1b2c3d-0000-4000-8000-000000000001")
    assert code == 1
    reasons = {item["id"]: item["reason"] for item in document["images"]}
    assert "is active, not pending_delete" in reasons[active]
    assert reasons["4a1b2c3d-0000-4000-8000-000000000001"] == "no such image"
    assert world.status(active) == "active"
    malformed = world.cli("scrub", "--image", "nope")
    assert malformed.exit_code == 2


def test_a_failing_location_keeps_its_image_pending_while_the_rest_proceed(world: GlanceWorld) -> None:
    healthy = [world.image() for _ in range(3)]
    stuck = world.image(stores=["archive"])
    path = world.data_file(stuck, "archive")
    make_undeletable(path)
    try:
        code, document = scrub(world)
    finally:
        make_deletable(path)
    assert code == 1
    outcome = results(document)
    assert outcome[stuck] == "failed"
    assert "cannot unlink" in document["images"][[item["id"] for item in document["images"]].index(stuck)]["reason"]
    assert all(outcome[image] == "scrubbed" for image in healthy)
    assert world.status(stuck) == "pending_delete"
    assert world.location_statuses(stuck) == ["pending_delete"]
    assert path.exists()
    code, document = scrub(world)
    assert code == 0 and results(document) == {stuck: "scrubbed"}


def test_path_escapes_are_refused(world: GlanceWorld, tmp_path: Path) -> None:
    fast = world.stores["fast"]
    victim = tmp_path / "outside" / "victim"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    (fast / "link-out").symlink_to(victim)
    (fast / "link-in").symlink_to(fast / "link-target")
    (fast / "link-target").write_bytes(b"x")
    (fast / "subdir").mkdir()
    os.mkfifo(fast / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(fast / "sock"))
    (tmp_path / "outside-dir").mkdir()
    (fast / "dirlink").symlink_to(tmp_path / "outside-dir")
    (tmp_path / "outside-dir" / "file").write_bytes(b"precious too")
    cases = {
        f"file://{fast}/../outside/victim": "contains '..'",
        f"file://{fast}/link-out": "symbolic link",
        f"file://{fast}/link-in": "symbolic link",
        f"file://{fast}/subdir": "is a directory",
        f"file://{fast}/fifo": "not a regular file",
        f"file://{fast}/sock": "not a regular file",
        f"file://{fast}/dirlink/file": "outside the data directories",
        f"file://{victim}": "outside the data directories",
        "file:///dev/null": "outside the data directories",
        "file://relative/path": "does not name an absolute path",
        f"file://{fast}": "outside the data directories",
    }
    ids = {world.image(urls=[url], write_files=False): reason for url, reason in cases.items()}
    code, document = scrub(world)
    sock.close()
    assert code == 4  # only blocked images: done, nothing failed
    by_id = {item["id"]: item for item in document["images"]}
    for image, reason in ids.items():
        assert by_id[image]["result"] == "blocked", by_id[image]
        assert reason in by_id[image]["reason"], (reason, by_id[image]["reason"])
        assert world.status(image) == "pending_delete"
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "outside-dir" / "file").exists()
    assert (fast / "link-target").exists() and (fast / "subdir").is_dir()
    assert stat.S_ISFIFO(os.lstat(fast / "fifo").st_mode)


def test_percent_encoded_dots_are_not_unquoted(world: GlanceWorld) -> None:
    fast = world.stores["fast"]
    (fast.parent / "secret").write_bytes(b"keep")
    image = world.image(urls=[f"file://{fast}/%2e%2e/secret"], write_files=False)
    code, document = scrub(world)
    assert (fast.parent / "secret").read_bytes() == b"keep"
    assert results(document)[image] in ("scrubbed", "blocked")
    assert code in (0, 1)


def test_shared_data_is_never_erased(world: GlanceWorld) -> None:
    pending = world.image()
    url = f"file://{world.data_file(pending)}"
    live = world.image(deleted_ago=None, urls=[url])
    code, document = scrub(world)
    assert code == 4  # only blocked images: done, nothing failed
    (item,) = document["images"]
    assert item["result"] == "blocked"
    assert live in item["reason"]
    assert world.data_file(pending).exists()
    assert world.status(pending) == "pending_delete"


def test_undecryptable_urls_block_only_their_image(world: GlanceWorld) -> None:
    world.encryption_key = "a" * 32
    encrypted = world.image()
    world.encryption_key = None
    plaintext = world.image()
    world.encryption_key = "b" * 32
    code, document = scrub(world)
    assert code == 4  # only blocked images: done, nothing failed
    outcome = results(document)
    assert outcome == {encrypted: "blocked", plaintext: "scrubbed"}
    assert world.data_file(encrypted).exists()
    world.encryption_key = "a" * 32
    code, document = scrub(world)
    assert code == 0 and results(document) == {encrypted: "scrubbed"}
    assert not world.data_file(encrypted).exists()


def test_stuck_images_are_finalized(world: GlanceWorld) -> None:
    no_location = world.image()
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations).where(image_locations.c.image_id == no_location).values(status="deleted")
        )
    data_gone = world.image(stores=["fast", "archive"])
    world.data_file(data_gone, "fast").unlink()
    world.data_file(data_gone, "archive").unlink()
    code, document = scrub(world)
    assert code == 0
    assert results(document) == {no_location: "scrubbed", data_gone: "scrubbed"}
    assert world.status(no_location) == "deleted" and world.status(data_gone) == "deleted"
    assert world.location_statuses(data_gone) == ["deleted", "deleted"]


def test_pending_image_with_a_live_location_is_not_marked_deleted(world: GlanceWorld) -> None:
    image = world.image(stores=["fast", "archive"])
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations)
            .where(image_locations.c.image_id == image, image_locations.c.meta_data.contains("archive"))
            .values(status="active", deleted=False, deleted_at=None)
        )
    code, document = scrub(world)
    assert code == 4  # only blocked images: done, nothing failed
    assert "live location" in document["images"][0]["reason"]
    assert world.status(image) == "pending_delete"
    assert world.data_file(image, "archive").exists()


def test_pending_locations_of_active_images_are_erased_and_the_image_stays_active(world: GlanceWorld) -> None:
    image = world.image(deleted_ago=None, stores=["fast", "archive"])
    world.delete_from_store(image, "archive")
    code, document = scrub(world)
    assert code == 0
    assert document["images"][0]["scope"] == "locations"
    assert world.status(image) == "active"
    assert world.location_statuses(image) == ["active", "deleted"]
    assert world.data_file(image, "fast").exists()
    assert not world.data_file(image, "archive").exists()


def test_unknown_store_and_legacy_rows(world: GlanceWorld) -> None:
    legacy = world.image(stores=[None])
    unknown = world.image()
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations).where(image_locations.c.image_id == unknown).values(meta_data='{"backend": "gone"}')
        )
    code, document = scrub(world)
    assert code == 4  # only blocked images: done, nothing failed
    assert results(document) == {legacy: "scrubbed", unknown: "blocked"}
    assert not world.data_file(legacy, None).exists()


def test_missing_data_directory_is_a_backend_problem_exit_3(world: GlanceWorld) -> None:
    image = world.image(stores=["archive"])
    world.stores["archive"].joinpath(image).unlink()
    world.stores["archive"].rmdir()
    code, document = scrub(world)
    assert code == 3
    assert results(document) == {image: "failed"}
    assert world.status(image) == "pending_delete"
    assert document["summary"]["unreachable"]


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_a_row_changed_during_the_run_is_not_overwritten(world: GlanceWorld) -> None:
    # MariaDB only: a second writer runs while the batch is open (SQLite would hold the write lock).
    from scrubctl.app import Application
    from scrubctl.backends import DeleterPool, DeleterRegistry
    from scrubctl.backends.base import EraseResult
    from scrubctl.backends.file import FileDeleter
    from scrubctl.engine.model import RunOptions
    from scrubctl.engine.planner import ScrubSelection, build_plan
    from scrubctl.engine.runner import ScrubRunner

    image = world.image()

    class RacingDeleter(FileDeleter):
        def erase(self, url: str, *, dry_run: bool) -> EraseResult:
            with world.engine.begin() as connection:
                connection.exec_driver_sql(f"UPDATE images SET status = 'active' WHERE id = '{image}'")
            return super().erase(url, dry_run=dry_run)

    app = Application(config_files=(world.config_file,))
    registry = DeleterRegistry({"file": "tests.engine.test_scrub:_unused"})
    registry._loaded["file"] = RacingDeleter
    with app.database().connect() as connection:
        plan = build_plan(
            connection, app.pending_queue(), app.decoder(), ScrubSelection(), check_encrypted_sharing=False
        )
    report = ScrubRunner(app.database(), DeleterPool(registry)).run(plan, RunOptions(dry_run=False))
    app.close()
    assert report.images[0].result.value == "failed"
    assert "changed during the run" in report.images[0].reason
    assert world.status(image) == "active"


@pytest.mark.slow
def test_three_concurrent_processes_scrub_each_image_exactly_once(world: GlanceWorld) -> None:
    images = [world.image(size=512) for _ in range(500)]
    env = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(world.config_file)}
    command = [sys.executable, "-m", "scrubctl", "scrub", "--yes", "-f", "json", "--concurrency", "2"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    scrubbed: list[str] = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        document = json.loads(stdout)
        assert document["summary"]["failed"] == 0 and document["summary"]["blocked"] == 0
        scrubbed += [item["id"] for item in document["images"] if item["result"] == "scrubbed"]
        assert "Traceback" not in stderr and "error" not in stderr.lower()
    assert sorted(scrubbed) == sorted(images)  # each exactly once across the three runs
    assert not any(world.data_file(image).exists() for image in images)
    assert {world.status(image) for image in images} == {"deleted"}


def test_store_narrows_to_that_stores_locations(world: GlanceWorld) -> None:
    both = world.image(stores=["fast", "archive"])
    only_archive = world.image(stores=["archive"])
    only_fast = world.image(stores=["fast"])
    code, document = scrub(world, "--store", "archive")
    assert code == 4  # only blocked images: done, nothing failed
    assert results(document) == {both: "blocked", only_archive: "scrubbed"}
    assert "left alone by --store archive" in document["images"][0]["reason"] + document["images"][1]["reason"]
    assert world.data_file(both, "fast").exists() and not world.data_file(both, "archive").exists()
    assert world.location_statuses(both) == ["pending_delete", "deleted"]
    assert world.status(both) == "pending_delete" and world.status(only_fast) == "pending_delete"
    code, document = scrub(world)
    assert code == 0 and results(document) == {both: "scrubbed", only_fast: "scrubbed"}


def test_a_data_directory_that_disappears_mid_run_is_unreachable_not_already_gone(world: GlanceWorld) -> None:
    first, second = world.image(), world.image()
    store = load_settings([world.config_file], None).store("fast", "file")
    deleter = FileDeleter(store)
    assert deleter.erase(f"file://{world.data_file(first)}", dry_run=False).outcome is EraseOutcome.ERASED
    moved = world.stores["fast"].rename(world.root / "unmounted")
    try:
        with pytest.raises(BackendUnavailableError, match="has disappeared"):
            deleter.erase(f"file://{world.data_file(second)}", dry_run=False)
        with pytest.raises(BackendUnavailableError):
            deleter.exists(f"file://{world.data_file(second)}")
    finally:
        moved.rename(world.stores["fast"])
    assert world.data_file(second).exists()


def test_a_second_run_of_the_same_runner_tries_a_store_the_first_found_unreachable(world: GlanceWorld) -> None:
    """What a run finds is its own: a store that was unreachable during the first run of a runner is
    tried again by the next run, which reports nothing of the first one's trouble."""
    from scrubctl.app import Application
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.model import RunOptions
    from scrubctl.engine.planner import ScrubSelection, build_plan
    from scrubctl.engine.runner import ScrubRunner

    images = [world.image(), world.image()]
    app = Application(config_files=(world.config_file,))
    runner = ScrubRunner(app.database(), DeleterPool(app.registry))

    def scrub_once() -> tuple[dict[str, str], list[str]]:
        with app.database().connect() as connection:
            plan = build_plan(
                connection, app.pending_queue(), app.decoder(), ScrubSelection(), check_encrypted_sharing=False
            )
        report = runner.run(plan, RunOptions(dry_run=False, concurrency=1))
        return {result.id: result.result.value for result in report.images}, report.summary.unreachable

    moved = world.stores["fast"].rename(world.root / "unmounted")
    try:
        first, unreachable = scrub_once()
    finally:
        moved.rename(world.stores["fast"])
    assert first == dict.fromkeys(images, "failed")
    assert len(unreachable) == 1 and unreachable[0].startswith("store fast: ")
    second, unreachable = scrub_once()
    app.close()
    assert second == dict.fromkeys(images, "scrubbed")
    assert unreachable == []
    assert {world.status(image) for image in images} == {"deleted"}
    assert not any(world.data_file(image).exists() for image in images)


def test_log_lines_show_a_name_only_when_there_is_one(world: GlanceWorld) -> None:
    named = world.image(name="debian-12")
    nameless = world.image()
    with world.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE images SET name = NULL WHERE id = '{nameless}'")
    unknown = "4a1b2c3d-0000-4000-8000-000000000001"
    result = world.cli("-v", "scrub", "--dry-run", "--image", unknown, "--image", nameless, "--image", named)
    assert result.exit_code == 1
    assert "None" not in result.stderr
    lines = result.stderr.splitlines()
    assert f"<4>image {unknown} blocked, 0 bytes: no such image (dry run; not making any changes)" in lines
    assert any(line.startswith(f"<6>image {nameless} would_scrub, ") for line in lines)
    assert any(line.startswith(f"<6>image {named} (debian-12) would_scrub, ") for line in lines)
    assert any(line.startswith(f"<7>image {nameless}: started") for line in lines)


def test_the_plan_and_the_results_count_the_same_images_and_bytes(world: GlanceWorld) -> None:
    world.image(stores=["fast", "archive"], size=10000)  # two locations: 20000 bytes to erase
    world.image(size=5000)
    shared = world.image(size=7000)  # blocked: a live image shares its data
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    partly = world.image(stores=["fast", "archive"], size=3000)  # blocked, but its archive copy is erased
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(partly)}"])
    result = world.cli("scrub", "--dry-run", "-f", "json")
    summary = json.loads(result.stdout)["summary"]
    assert (summary["would_scrub"], summary["blocked"]) == (2, 2)
    assert summary["bytes_would_erase"] == 28000
    plan = [line for line in result.stderr.splitlines() if "Plan:" in line]
    assert plan == [
        "<6>Plan: 2 image(s) to scrub, 2 blocked, 0 named but not in the queue; 27.3 KiB of data to erase "
        "(dry run; not making any changes)"
    ]
    table = world.cli("scrub", "--dry-run")
    assert (
        "Summary (dry run; nothing changed): 2 would be scrubbed, 2 blocked, 0 failed, 0 taken by another run; "
        "27.3 KiB of data would be erased in " in table.stdout
    )
    # Data already gone is counted in the plan (Glance's rows still hold it), not in the results: the
    # results say why the two differ.
    gone = world.image(size=2000)
    world.data_file(gone).unlink()
    done = world.cli("scrub", "--yes")
    assert done.exit_code == 4
    assert "Plan: 3 image(s) to scrub, 2 blocked, 0 named but not in the queue; 29.3 KiB of data to erase" in (
        done.stderr
    )
    assert (
        "Summary: 3 scrubbed, 2 blocked, 0 failed, 0 taken by another run; 27.3 KiB of data erased "
        "(1 location(s) already gone) in " in done.stdout
    )


def test_data_already_gone_is_the_reason(world: GlanceWorld) -> None:
    gone = world.image()
    world.data_file(gone).unlink()
    partly = world.image(stores=["fast", "archive"])
    world.data_file(partly, "archive").unlink()
    archive_location = world.rows("image_locations", partly)[1]["id"]
    whole = world.image()
    expected = {gone: "already gone", partly: f"location {archive_location} already gone", whole: ""}
    code, document = scrub(world, "--dry-run")
    assert code == 0
    assert {item["id"]: item["reason"] for item in document["images"]} == expected

    def result_lines(output: str) -> dict[str, str]:
        return {image: next(line for line in output.splitlines() if image in line) for image in expected}

    dry = result_lines(world.cli("scrub", "--dry-run").stdout)
    done = world.cli("scrub", "--yes")
    assert done.exit_code == 0
    for lines, result in ((dry, "would_scrub"), (result_lines(done.stdout), "scrubbed")):
        assert re.search(rf"{result} +4.0 KiB +already gone", lines[gone]), lines[gone]  # the recorded size
        assert f"location {archive_location} already gone" in lines[partly]
        assert lines[whole].rstrip().endswith(" -")
    assert {world.status(image) for image in expected} == {"deleted"}


def test_an_images_plan_is_freed_once_its_batch_is_recorded(world: GlanceWorld) -> None:
    """A run holds the plan of the batches in flight, not of every image (its memory stays flat as
    the number of images grows): when the last image finishes, the plans of the earlier batches are
    gone, and the files and rows are done all the same."""
    import gc

    from scrubctl.app import Application
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.model import ImageResult, PlannedImage, RunOptions
    from scrubctl.engine.planner import ScrubSelection, build_plan
    from scrubctl.engine.runner import ScrubRunner

    images = [world.image(size=64) for _ in range(240)]
    alive: list[int] = []

    class Counting:
        def image_started(self, image: PlannedImage) -> None:
            """Ignore."""

        def location_started(self, image: PlannedImage, location: object) -> None:
            """Ignore."""

        def image_finished(self, result: ImageResult) -> None:
            gc.collect()
            alive.append(sum(1 for item in gc.get_objects() if isinstance(item, PlannedImage)))

    app = Application(config_files=(world.config_file,))
    with app.database().connect() as connection:
        plan = build_plan(
            connection, app.pending_queue(), app.decoder(), ScrubSelection(), check_encrypted_sharing=False
        )
    assert len(plan.images) == 240
    runner = ScrubRunner(app.database(), DeleterPool(app.registry), observer=Counting())
    report = runner.run(plan, RunOptions(dry_run=False, concurrency=2, batch_size=40))
    app.close()
    assert report.summary.scrubbed == 240
    assert plan.images == ()
    assert alive[0] == 240  # the first result: every batch is still to do or in flight
    assert alive[-1] <= 2 * 40  # the last: only the batches of the two lanes are left
    assert {world.status(image) for image in images} == {"deleted"}
    assert not any(world.data_file(image).exists() for image in images)


def test_a_plan_of_files_only_is_claimed_in_larger_batches_than_one_with_a_remote_store(world: GlanceWorld) -> None:
    """Erasing a file is a local call, so a plan whose every location is a file is claimed and recorded
    in batches of LOCAL_BATCH; one location in a store reached over the network (here rbd) brings
    them down to MAX_BATCH, so that runs on other controllers get their share of the slow erases."""
    from scrubctl.app import Application
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.batches import LOCAL_BATCH, MAX_BATCH, cut_into_batches
    from scrubctl.engine.model import RunOptions
    from scrubctl.engine.planner import ScrubSelection, build_plan
    from scrubctl.engine.runner import ScrubRunner

    app = Application(config_files=(world.config_file,))
    pool = DeleterPool(app.registry)
    assert pool.erases_locally("file")
    assert not any(pool.erases_locally(scheme) for scheme in ("rbd", "swift", "s3", "nosuch"))
    runner = ScrubRunner(app.database(), pool)
    for _ in range(3):
        world.image()

    def largest() -> int:
        with app.database().connect() as connection:
            plan = build_plan(
                connection, app.pending_queue(), app.decoder(), ScrubSelection(), check_encrypted_sharing=False
            )
        return runner._largest_batch(plan.images)

    assert largest() == LOCAL_BATCH
    world.image(stores=[None], urls=[f"rbd://{uuid.uuid4()}/images/{uuid.uuid4()}/snap"], write_files=False)
    assert largest() == MAX_BATCH
    app.close()
    cut = cut_into_batches(list(range(1200)), RunOptions(dry_run=False, concurrency=1), LOCAL_BATCH)  # type: ignore[arg-type]
    assert [len(batch) for batch in cut] == [500, 500, 200]


def test_summaries_say_how_long_in_milliseconds_under_ten_seconds(world: GlanceWorld) -> None:
    durations = (0.0, 0.4124, 9.9994, 10.0, 12.345)
    assert [human_duration(seconds) for seconds in durations] == ["0 ms", "412 ms", "9999 ms", "10.0 s", "12.3 s"]
    world.image()
    result = world.cli("scrub", "--yes")
    summary = next(line for line in result.stdout.splitlines() if line.startswith("Summary"))
    assert re.search(r"; 4\.0 KiB of data erased in (\d+ ms|\d+\.\d s)$", summary), summary
