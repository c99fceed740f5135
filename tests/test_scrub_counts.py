"""What a scrub counts: --max-delete, the dry run's summary, and images two runs both planned."""

from __future__ import annotations

import json
from typing import Any

from tests.world import GlanceWorld


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
    assert code == 1  # the blocked image
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
