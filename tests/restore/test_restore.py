"""restore on SQLite and MariaDB with real files: rows back as Glance had them, refusals that change
nothing, and no race with a concurrent scrub."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from scrubctl.app import Application
from scrubctl.backends import DeleterPool, DeleterRegistry
from scrubctl.backends.file import FileDeleter
from scrubctl.coordination.claims import ClaimSession
from scrubctl.glance.schema import image_locations
from scrubctl.glance.writer import remove_tag
from scrubctl.restore import RestoreResult, RestoreTools, restore_images
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.utc import glance_timestamp
from tests.support.world import GlanceWorld, invoke

TABLES = ("images", "image_locations", "image_properties", "image_tags", "image_members")
UNKNOWN = "6f1c3a8e-0000-4000-8000-000000000000"


def restore(world: GlanceWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.cli("restore", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in document["images"]}


def snapshot(world: GlanceWorld, image_id: str) -> dict[str, list[dict[str, Any]]]:
    return {table: world.rows(table, image_id) for table in TABLES}


def moment(value: datetime | str | None) -> datetime | None:
    """A timestamp read through plain SQL: SQLite returns text, MariaDB a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def without_updated_at(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key != "updated_at"} for row in rows]


def test_restore_brings_back_every_row_as_it_was_before_the_delete(world: GlanceWorld) -> None:
    image = world.image(
        deleted_ago=None,
        stores=["fast", "archive"],
        properties={"os_distro": "debian", "hw_disk_bus": "scsi"},
        tags=["gold", "old", "web"],
        members=["9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d", "1f2e3d4c5b6a47988796a5b4c3d2e1f0"],
    )
    tag_removed_at = glance_timestamp() - timedelta(days=3)
    with world.engine.begin() as connection:
        remove_tag(connection, image, "old", tag_removed_at)
    before = snapshot(world, image)
    world.delete(image)

    # The rows as Glance 33.0.0 leaves them (FACTS): everything soft-deleted at T_del, locations 1 s earlier.
    deleted = snapshot(world, image)
    (row,) = deleted["images"]
    deleted_at = moment(row["deleted_at"])
    assert deleted_at is not None
    assert (row["status"], bool(row["deleted"]), moment(row["updated_at"])) == ("pending_delete", True, deleted_at)
    for location in deleted["image_locations"]:
        assert (location["status"], bool(location["deleted"])) == ("pending_delete", True)
        assert moment(location["deleted_at"]) == deleted_at - timedelta(seconds=1)
    for table in ("image_properties", "image_members"):
        assert {(bool(item["deleted"]), moment(item["deleted_at"])) for item in deleted[table]} == {(True, deleted_at)}
    assert {item["value"]: moment(item["deleted_at"]) for item in deleted["image_tags"]} == {
        "gold": deleted_at,
        "old": tag_removed_at,
        "web": deleted_at,
    }

    code, document = restore(world, image)
    assert code == 0, document
    assert document["images"] == [
        {
            "id": image,
            "result": "restored",
            "reason": "",
            "locations_restored": 2,
            "properties_restored": 2,
            "tags_restored": 2,
            "members_restored": 2,
            "not_restorable": [],
        }
    ]
    assert document["summary"]["restored"] == 1 and document["summary"]["refused"] == 0
    assert "cannot be told apart" in document["summary"]["notes"][0]
    after = snapshot(world, image)
    for table in TABLES:
        assert without_updated_at(after[table]) == without_updated_at(before[table]), table
    assert moment(after["images"][0]["updated_at"]) > deleted_at
    assert [tag["value"] for tag in after["image_tags"] if tag["deleted"]] == ["old"]
    assert world.data_file(image, "fast").exists() and world.data_file(image, "archive").exists()

    # The image is a normal active image again: scrub leaves it alone, and a new delete is scrubbed.
    scrubbed = world.cli("scrub", "--yes", "-f", "json")
    assert json.loads(scrubbed.stdout)["images"] == []
    assert world.data_file(image, "fast").exists()
    world.delete(image)
    scrubbed = world.cli("scrub", "--yes", "-f", "json")
    assert scrubbed.exit_code == 0, scrubbed.stdout
    assert world.status(image) == "deleted"
    assert not world.data_file(image, "fast").exists() and not world.data_file(image, "archive").exists()


def test_dry_run_walks_the_same_path_and_changes_nothing(world: GlanceWorld) -> None:
    image = world.image(stores=["fast", "archive"], properties={"os_distro": "debian"}, tags=["gold"])
    gone = world.image()
    world.data_file(gone).unlink()
    audit_log = world.root / "audit.jsonl"
    before = world.checksum()
    code, document = restore(world, "--dry-run", "--audit-log", str(audit_log), image, gone)
    assert world.checksum() == before
    assert code == 1
    items = by_id(document)
    assert items[image]["result"] == "would_restore"
    assert (items[image]["locations_restored"], items[image]["properties_restored"]) == (2, 1)
    assert items[gone]["result"] == "refused" and "gone from the store" in items[gone]["reason"]
    assert document["summary"]["dry_run"] is True and document["summary"]["would_restore"] == 1
    table = world.cli("restore", "--dry-run", image)
    assert table.exit_code == 0
    assert "dry run" in table.stdout and "would_restore" in table.stdout
    assert world.checksum() == before
    assert not audit_log.exists() or audit_log.read_text() == ""


def test_refusals_change_nothing_and_the_other_ids_proceed(world: GlanceWorld) -> None:
    good = world.image()
    active = world.image(deleted_ago=None)
    scrubbed = world.image()
    assert world.cli("scrub", "--yes", "--image", scrubbed).exit_code == 0
    assert world.status(scrubbed) == "deleted"
    gone = world.image(stores=["fast", "archive"])
    world.data_file(gone, "archive").unlink()
    queued = world.image(deleted_ago=None, stores=[])
    with world.engine.begin() as connection:
        connection.execute(text("UPDATE images SET status = 'queued' WHERE id = :id"), {"id": queued})

    before = world.checksum()
    malformed = world.cli("restore", "not-an-id", good)
    assert malformed.exit_code == 2
    assert "malformed image id" in malformed.stderr
    missing_argument = world.cli("restore")
    assert missing_argument.exit_code == 2
    assert world.checksum() == before

    code, document = restore(world, UNKNOWN, active, scrubbed, gone, queued)
    assert code == 1
    assert world.checksum() == before
    reasons = {image: item["reason"] for image, item in by_id(document).items()}
    assert {item["result"] for item in document["images"]} == {"refused"}
    assert "no image" in reasons[UNKNOWN]
    assert "is active, not pending_delete" in reasons[active]
    assert "is deleted" in reasons[scrubbed] and "already erased" in reasons[scrubbed]
    assert "the data is gone from the store" in reasons[gone] and "archive" in reasons[gone]
    assert "is queued, not pending_delete" in reasons[queued]

    refused = [active, scrubbed, gone, queued]
    rows_before = {image: snapshot(world, image) for image in refused}
    code, document = restore(world, UNKNOWN, active, good, scrubbed, gone, queued)
    assert code == 1
    assert by_id(document)[good]["result"] == "restored"
    assert document["summary"] == {
        "dry_run": False,
        "selected": 6,
        "restored": 1,
        "would_restore": 0,
        "refused": 5,
        "unreachable": [],
        "notes": [],
    }
    assert world.status(good) == "active" and world.location_statuses(good) == ["active"]
    assert {image: snapshot(world, image) for image in refused} == rows_before
    assert world.data_file(gone, "fast").exists()

    table = world.cli("restore", active, UNKNOWN)
    assert table.exit_code == 1
    assert "refused" in table.stdout and "no image" in table.stdout


def test_locations_that_cannot_be_checked_are_refused(world: GlanceWorld) -> None:
    unknown_store = world.image()
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations)
            .where(image_locations.c.image_id == unknown_store)
            .values(meta_data='{"backend": "gone"}')
        )
    outside = world.image(urls=["file:///etc/hostname"], write_files=False)
    world.encryption_key = "a" * 32
    encrypted = world.image()
    world.encryption_key = "b" * 32
    before = world.checksum()
    code, document = restore(world, unknown_store, outside, encrypted)
    assert code == 1
    assert world.checksum() == before
    reasons = {image: item["reason"] for image, item in by_id(document).items()}
    assert "unknown store 'gone'" in reasons[unknown_store]
    assert "outside the data directories" in reasons[outside]
    assert "cannot be decrypted" in reasons[encrypted]
    world.encryption_key = "a" * 32
    code, document = restore(world, encrypted)
    assert code == 0 and document["images"][0]["result"] == "restored"


def test_an_unreachable_store_is_refused_with_exit_3(world: GlanceWorld) -> None:
    image = world.image(stores=["archive"])
    world.data_file(image, "archive").unlink()
    world.stores["archive"].rmdir()
    before = world.checksum()
    code, document = restore(world, image)
    assert code == 3
    assert world.checksum() == before
    assert document["images"][0]["result"] == "refused"
    assert "store unreachable" in document["images"][0]["reason"]
    assert document["summary"]["unreachable"] and "archive" in document["summary"]["unreachable"][0]


def test_a_location_removed_from_its_store_before_the_delete_stays_pending(world: GlanceWorld) -> None:
    image = world.image(deleted_ago=None, stores=["fast", "archive"])
    world.delete_from_store(image, "archive", ago=timedelta(days=3))
    world.delete(image, ago=timedelta(days=1))
    code, document = restore(world, image)
    assert code == 0
    (item,) = document["images"]
    assert item["locations_restored"] == 1
    (left,) = item["not_restorable"]
    assert left["kind"] == "location" and "archive" in left["name"]
    assert "before the image was deleted" in left["reason"]
    assert world.status(image) == "active"
    assert world.location_statuses(image) == ["active", "pending_delete"]
    scrubbed = json.loads(world.cli("scrub", "--yes", "-f", "json").stdout)
    assert [entry["scope"] for entry in scrubbed["images"]] == ["locations"]
    assert world.status(image) == "active"
    assert world.data_file(image, "fast").exists() and not world.data_file(image, "archive").exists()


def test_a_location_already_erased_by_a_partial_scrub_is_named(world: GlanceWorld) -> None:
    image = world.image(stores=["fast", "archive"])
    world.data_file(image, "archive").unlink()
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations)
            .where(image_locations.c.image_id == image, image_locations.c.meta_data.contains("archive"))
            .values(status="deleted", deleted_at=glance_timestamp(), updated_at=glance_timestamp())
        )
    code, document = restore(world, image)
    assert code == 0
    (item,) = document["images"]
    assert item["locations_restored"] == 1
    assert [(entry["kind"], "already erased" in entry["reason"]) for entry in item["not_restorable"]] == [
        ("location", True)
    ]
    assert world.location_statuses(image) == ["active", "deleted"]


def test_data_shared_with_another_pending_location_is_refused(world: GlanceWorld) -> None:
    world.encryption_key = "a" * 32  # the same URL encrypts differently in every row
    first = world.image()
    second = world.image(urls=[f"file://{world.data_file(first)}"], write_files=False)
    before = world.checksum()
    code, document = restore(world, first, second)
    assert code == 1
    reasons = {image: item["reason"] for image, item in by_id(document).items()}
    assert "shared with pending_delete location(s)" in reasons[first]
    assert second in reasons[first] and first in reasons[second]
    assert world.checksum() == before

    alone = world.image()
    live = world.image(deleted_ago=None, urls=[f"file://{world.data_file(alone)}"], write_files=False)
    code, document = restore(world, alone)
    assert code == 0, document  # a live image using the same data is no obstacle
    world.delete(alone)
    world.delete_from_store(live, "fast")  # but a pending location of an active image is: scrub erases it
    before = world.checksum()
    code, document = restore(world, alone)
    assert code == 1 and live in document["images"][0]["reason"]
    assert world.checksum() == before


def test_an_image_with_no_location_to_restore_is_refused(world: GlanceWorld) -> None:
    image = world.image()
    world.data_file(image).unlink()
    with world.engine.begin() as connection:
        connection.execute(update(image_locations).where(image_locations.c.image_id == image).values(status="deleted"))
    before = world.checksum()
    code, document = restore(world, image)
    assert code == 1
    assert "active image without data" in document["images"][0]["reason"]
    assert world.checksum() == before


def test_a_destroyed_encryption_key_is_named(world: GlanceWorld) -> None:
    destroyed = world.image(
        properties={
            "cinder_encryption_key_id": "3b2c1d0e-aaaa-4bbb-8ccc-0123456789ab",
            "cinder_encryption_key_deletion_policy": "on_image_deletion",
        }
    )
    kept = world.image(
        properties={
            "cinder_encryption_key_id": "4c3d2e1f-aaaa-4bbb-8ccc-0123456789ab",
            "cinder_encryption_key_deletion_policy": "do_not_delete",
        }
    )
    no_policy = world.image(properties={"cinder_encryption_key_id": "5d4e3f20-aaaa-4bbb-8ccc-0123456789ab"})
    code, document = restore(world, destroyed, kept, no_policy)
    assert code == 0
    items = by_id(document)
    (lost,) = items[destroyed]["not_restorable"]
    assert (lost["kind"], lost["name"]) == ("property", "cinder_encryption_key_id")
    assert "3b2c1d0e-aaaa-4bbb-8ccc-0123456789ab" in lost["reason"] and "on_image_deletion" in lost["reason"]
    assert items[kept]["not_restorable"] == [] and items[no_policy]["not_restorable"] == []
    assert items[destroyed]["properties_restored"] == 2
    assert "cannot be told apart" in document["summary"]["notes"][0]
    again = world.image(
        properties={"cinder_encryption_key_id": "k", "cinder_encryption_key_deletion_policy": "on_image_deletion"}
    )
    table = world.cli("restore", "--dry-run", again)
    assert table.exit_code == 0
    assert "Not restored" in table.stdout and "cinder_encryption_key_id" in table.stdout


def test_each_restore_is_audited_before_it_is_committed(world: GlanceWorld) -> None:
    image = world.image(stores=["fast", "archive"], tags=["gold"])
    audit_log = world.root / "audit.jsonl"
    code, _ = restore(world, "--audit-log", str(audit_log), image, image)
    assert code == 0
    (line,) = audit_log.read_text().splitlines()
    record = json.loads(line)
    assert (record["action"], record["image_id"], record["result"]) == ("restore", image, "restored")
    assert [location["store"] for location in record["locations"]] == ["fast", "archive"]
    assert record["tags"] == 1

    class BrokenAudit:
        def record(self, action: str, fields: Mapping[str, Any]) -> None:
            raise OSError("disk full")

    other = world.image()
    before = world.checksum()
    app = Application(config_files=(world.config_file,))
    tools = RestoreTools(decoder=app.decoder(), deleters=DeleterPool(app.registry), audit=BrokenAudit())
    try:
        with app.connection() as connection, pytest.raises(OSError, match="disk full"):
            restore_images(connection, tools, [other], dry_run=False)
    finally:
        app.close()
    assert world.checksum() == before
    assert world.status(other) == "pending_delete"


def test_restoring_twice_is_refused_the_second_time(world: GlanceWorld) -> None:
    image = world.image()
    code, document = restore(world, image, image.upper())
    assert code == 0 and len(document["images"]) == 1
    before = world.checksum()
    code, document = restore(world, image)
    assert code == 1
    assert "is active, not pending_delete" in document["images"][0]["reason"]
    assert world.checksum() == before


def test_an_image_claimed_by_a_scrub_is_waited_for_then_refused(world: GlanceWorld) -> None:
    image = world.image()
    app = Application(config_files=(world.config_file,))
    tools = RestoreTools(decoder=app.decoder(), deleters=DeleterPool(app.registry), audit=_NoAudit(), wait_seconds=1)
    try:
        with ClaimSession(world.engine, purpose="scrub", holder="other-controller:1:abcd") as scrub:
            with world.engine.connect() as holder:
                assert scrub.take(holder, [image]) == {image}
            with world.engine.connect() as connection:
                assert connection.exec_driver_sql("SELECT holder FROM scrubctl_claims").scalar() == scrub.holder
            started = time.monotonic()
            with app.connection() as connection:
                report = restore_images(connection, tools, [image], dry_run=False)
            assert time.monotonic() - started >= 0.9
        (result,) = report.images
        assert result.result is RestoreResult.REFUSED and "another scrubctl run holds" in result.reason
        assert world.status(image) == "pending_delete"
        with app.connection() as connection:
            assert restore_images(connection, tools, [image], dry_run=False).images[0].result is RestoreResult.RESTORED
        with world.engine.connect() as connection:  # every claim released
            assert connection.exec_driver_sql("SELECT COUNT(*) FROM scrubctl_claims").scalar() == 0
    finally:
        app.close()


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_a_row_changed_by_another_writer_rolls_the_whole_image_back(world: GlanceWorld) -> None:
    # MariaDB only: a writer that takes no claim (Glance's own scrubber) marks the image deleted while
    # the data is being checked; the guarded update sees it and nothing of the image is written.
    image = world.image(stores=["fast", "archive"], tags=["gold"])

    class RacingDeleter(FileDeleter):
        def exists(self, url: str) -> bool:
            with world.engine.begin() as connection:
                connection.execute(text("UPDATE images SET status = 'deleted' WHERE id = :id"), {"id": image})
            return super().exists(url)

    def racing(store: StoreConfig, options: Mapping[str, str]) -> RacingDeleter:
        return RacingDeleter(store, options)

    registry = DeleterRegistry({"file": "tests.restore.test_restore:unused"})
    registry._loaded["file"] = racing
    app = Application(config_files=(world.config_file,))
    tools = RestoreTools(decoder=app.decoder(), deleters=DeleterPool(registry), audit=_NoAudit())
    before = snapshot(world, image)
    try:
        with app.connection() as connection:
            report = restore_images(connection, tools, [image], dry_run=False)
    finally:
        app.close()
    (result,) = report.images
    assert result.result is RestoreResult.REFUSED
    assert "image row changed while being restored" in result.reason
    after = snapshot(world, image)
    assert after["images"][0]["status"] == "deleted"
    for table in TABLES[1:]:
        assert after[table] == before[table], table


class _NoAudit:
    def record(self, action: str, fields: Mapping[str, Any]) -> None:
        pass


def test_sandbox_restore_takes_the_image_out_of_the_queue(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    assert invoke(["sandbox", str(directory)]).exit_code == 0
    config = ["--config-file", str(directory / "glance-api.conf")]
    listing = json.loads(invoke([*config, "list-pending", "-f", "json"]).stdout)
    pending = [item for item in listing if item["status"] == "pending_delete"]
    present = [
        item
        for item in pending
        if all(Path(location["url"].removeprefix("file://")).exists() for location in item["locations"])
    ]
    absent = [item for item in pending if item not in present]
    chosen = next(item for item in present if len(item["locations"]) == 2)
    result = invoke([*config, "restore", "-f", "json", chosen["id"], absent[0]["id"]])
    assert result.exit_code == 1, result.stderr
    outcome = {item["id"]: item["result"] for item in json.loads(result.stdout)["images"]}
    assert outcome == {chosen["id"]: "restored", absent[0]["id"]: "refused"}
    listed = {item["id"] for item in json.loads(invoke([*config, "list-pending", "-f", "json"]).stdout)}
    assert chosen["id"] not in listed and absent[0]["id"] in listed
    shown = invoke([*config, "show", chosen["id"]])
    assert shown.exit_code == 1
    assert "not in the scrub queue" in shown.stderr


RACE_ROUNDS = 100
RACE_ROUNDS_IN_FLIGHT = 3  # rounds touch different images; overlapping them only adds timing noise


def race_round(
    world: GlanceWorld,
    env: Mapping[str, str],
    images: list[str],
    seed: int,
    scrub_env: Mapping[str, str] | None = None,
) -> list[str]:
    """Launch a restore (with ``env``) and a scrub (with ``scrub_env``, default ``env``) of ``images``
    together, order and stagger random; check every image."""
    randomness = random.Random(seed)
    base = [sys.executable, "-m", "scrubctl", "-q"]
    commands = [
        ([*base, "restore", "-f", "json", *images], env),
        (
            [*base, "scrub", "--yes", "-f", "json", *(argument for image in images for argument in ("--image", image))],
            scrub_env or env,
        ),
    ]
    randomness.shuffle(commands)
    (first_command, first_env), (second_command, second_env) = commands
    first = subprocess.Popen(first_command, env=first_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(randomness.uniform(0, 0.15))
    second = subprocess.Popen(second_command, env=second_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for process in (first, second):
        _stdout, stderr = process.communicate(timeout=120)
        assert process.returncode in (0, 1), stderr
        assert "Traceback" not in stderr
    statuses = []
    for image in images:
        status = world.status(image)
        present = world.data_file(image).exists()
        locations = world.location_statuses(image)
        assert not (status == "active" and not present), (image, locations)
        assert (status, present, locations) in (
            ("active", True, ["active"]),
            ("deleted", False, ["deleted"]),
        ), (image, status, present, locations)
        statuses.append(status)
    return statuses


@pytest.mark.slow
def test_restore_racing_scrub_never_leaves_an_active_image_without_data(world: GlanceWorld) -> None:
    env = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(world.config_file)}
    rounds = [[world.image(size=512) for _ in range(2)] for _ in range(RACE_ROUNDS)]
    with ThreadPoolExecutor(max_workers=RACE_ROUNDS_IN_FLIGHT) as pool:
        futures = [pool.submit(race_round, world, env, images, seed) for seed, images in enumerate(rounds)]
        statuses = [status for future in futures for status in future.result()]
    outcomes = Counter(statuses)
    assert outcomes["active"] and outcomes["deleted"], outcomes  # both sides won some races
