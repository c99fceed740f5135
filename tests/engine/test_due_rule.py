"""One due rule for list-pending, list-pending --due, show and scrub, damaged rows included."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from scrubctl.glance.schema import images
from tests.support.world import GlanceWorld

NOT_SET = "deleted_at is not set"


def _without_deleted_at(world: GlanceWorld, image_id: str) -> None:
    """Damage a pending image's row as no Glance delete leaves it: deleted_at NULL, updated_at old."""
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == image_id).values(deleted_at=None))


def test_a_pending_image_without_deleted_at_is_not_due_and_says_why(world: GlanceWorld) -> None:
    damaged = world.image(deleted_ago=timedelta(days=30))
    _without_deleted_at(world, damaged)
    due = world.image(deleted_ago=timedelta(days=3))
    listing = world.cli("list-pending", "-f", "json")
    assert listing.exit_code == 0, listing.stderr
    entries = {item["id"]: item for item in json.loads(listing.stdout)}
    assert (entries[damaged]["due"], entries[due]["due"]) == (False, True)
    assert any(NOT_SET in blocker for blocker in entries[damaged]["blockers"])
    assert entries[due]["blockers"] == []
    # list-pending --due and scrub take the same images.
    due_only = world.cli("list-pending", "--due", "-f", "json")
    assert [item["id"] for item in json.loads(due_only.stdout)] == [due]
    dry = world.cli("scrub", "--dry-run", "-f", "json")
    assert [item["id"] for item in json.loads(dry.stdout)["images"]] == [due]
    shown = world.cli("show", damaged, "-f", "json")
    assert json.loads(shown.stdout)["due"] is False


def test_scrub_names_an_image_without_deleted_at_blocked_and_erases_nothing(world: GlanceWorld) -> None:
    damaged = world.image(stores=["fast", "archive"])
    _without_deleted_at(world, damaged)
    result = world.cli("scrub", "--yes", "-f", "json", "--image", damaged)
    assert result.exit_code == 4  # blocked, nothing failed
    [entry] = json.loads(result.stdout)["images"]
    assert (entry["id"], entry["result"], entry["bytes"]) == (damaged, "blocked", 0)
    assert NOT_SET in entry["reason"]
    assert world.data_file(damaged, "fast").exists() and world.data_file(damaged, "archive").exists()
    assert world.status(damaged) == "pending_delete"
    assert world.location_statuses(damaged) == ["pending_delete", "pending_delete"]
