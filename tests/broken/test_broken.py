"""``scrubctl broken`` and ``broken --repair`` on SQLite and MariaDB with real files, and on images the
real ``glance-scrubber --restore`` (33.0.0) left, before and after the real ``glance-manage db purge``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, update

from scrubctl.glance.schema import images
from tests.conftest import mariadb_database
from tests.orphans.test_orphans import age, purge_locations
from tests.output.test_terminal import run_on_terminal, screen
from tests.support import glance_reference
from tests.support.world import GlanceWorld


def record_checksums(world: GlanceWorld, image_id: str, store: str | None = "fast", *, wrong: bool = False) -> None:
    """Write the checksum and os_hash_value Glance computed at upload time."""
    data = world.data_file(image_id, store).read_bytes()
    md5 = hashlib.md5(data + (b"!" if wrong else b""), usedforsecurity=False).hexdigest()
    with world.engine.begin() as connection:
        connection.execute(
            update(images)
            .where(images.c.id == image_id)
            .values(checksum=md5, os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest())
        )


def scrubber_restore(world: GlanceWorld, image_id: str) -> None:
    """What ``glance-scrubber --restore`` writes: the image row only (active, deleted_at left set)."""
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == image_id).values(status="active", deleted=False))


def broken(world: GlanceWorld, *args: str) -> dict[str, list[dict[str, Any]]]:
    result = world.cli("broken", "-f", "json", *args)
    assert result.exit_code == 0, result.stderr
    found: dict[str, list[dict[str, Any]]] = {}
    for item in json.loads(result.stdout):
        found.setdefault(item["id"], []).append(item)
    return found


def problems(listing: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {image_id: [item["problem"] for item in items] for image_id, items in listing.items()}


def test_every_problem_and_nothing_else(world: GlanceWorld) -> None:
    restored = world.image(properties={"os_distro": "debian"}, tags=["gold"])
    scrubber_restore(world, restored)
    purged = world.image(deleted_ago=timedelta(days=40))
    scrubber_restore(world, purged)
    purge_locations(world, purged)
    unlinked = world.image(deleted_ago=None)
    purge_locations(world, unlinked)
    missing = world.image(deleted_ago=None)
    world.data_file(missing).unlink()
    stamped = world.image(deleted_ago=None)
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == stamped).values(deleted_at=images.c.created_at))
    world.image(deleted_ago=None)  # healthy
    world.image()  # pending_delete: the scrubber's, not broken
    listing = broken(world)
    assert problems(listing) == {
        restored: ["restored_without_locations"],
        purged: ["restored_without_locations"],
        unlinked: ["unlinked"],
        missing: ["data_missing"],
        stamped: ["deleted_at_set"],
    }
    item = listing[restored][0]
    assert item["repairable"] and item["status"] == "active" and item["name"] == "test-image"
    assert [location["state"] for location in item["locations"]] == ["pending_delete"]
    assert not listing[purged][0]["repairable"]  # nothing recorded to verify the data against
    assert listing[purged][0]["locations"][0]["state"] == "found by id"
    assert not listing[missing][0]["repairable"]
    table = world.cli("broken")
    assert table.exit_code == 0 and "restored_without_locations" in table.stdout


def test_repair_makes_them_whole_and_refuses_what_it_cannot_verify(world: GlanceWorld, tmp_path: Path) -> None:
    restored = world.image(properties={"os_distro": "debian"}, tags=["gold"], members=["p2"])
    scrubber_restore(world, restored)
    purged = world.image(deleted_ago=timedelta(days=40))
    record_checksums(world, purged)
    scrubber_restore(world, purged)
    purge_locations(world, purged)
    unlinked = world.image(deleted_ago=None, stores=["archive"])
    record_checksums(world, unlinked, "archive")
    purge_locations(world, unlinked)
    corrupt = world.image(deleted_ago=None)
    record_checksums(world, corrupt, wrong=True)
    purge_locations(world, corrupt)
    missing = world.image(deleted_ago=None)
    world.data_file(missing).unlink()
    stamped = world.image(deleted_ago=None)  # live, but deleted_at set: db purge could hard-delete it
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == stamped).values(deleted_at=images.c.created_at))
    # orphans never offers their data for reclaiming
    _ = [age(world.data_file(image)) for image in (restored, purged, corrupt)]
    age(world.data_file(unlinked, "archive"))
    reclaim = world.cli("orphans", "--reclaim", "--yes", "--older-than", "0s", "-f", "json")
    assert json.loads(reclaim.stdout)["orphans"] == [], reclaim.stdout
    before = world.checksum()
    dry = world.cli("broken", "--repair", "--dry-run", "-f", "json")
    assert dry.stdout, dry.stderr
    assert world.checksum() == before
    results = {item["id"]: item["result"] for item in json.loads(dry.stdout)["images"]}
    assert results == {**dict.fromkeys((restored, purged, unlinked, stamped), "would_repair"), corrupt: "refused"}
    refused = world.cli("broken", "--repair", "-f", "json", corrupt, missing)
    assert refused.exit_code == 1
    reasons = {item["id"]: item["reason"] for item in json.loads(refused.stdout)["images"]}
    assert "not the recorded checksum" in reasons[corrupt] and "never repaired" in reasons[missing]
    assert world.checksum() == before
    audit = tmp_path / "audit.jsonl"
    done = world.cli("broken", "--repair", "-f", "json", "--audit-log", str(audit), restored, purged, unlinked, stamped)
    assert done.exit_code == 0, done.stdout
    document = json.loads(done.stdout)
    by_id = {item["id"]: item for item in document["images"]}
    repaired = dict.fromkeys((restored, purged, unlinked, stamped), "repaired")
    assert {key: item["result"] for key, item in by_id.items()} == repaired
    assert by_id[restored]["locations_restored"] == 1 and by_id[restored]["properties_restored"] == 1
    assert by_id[restored]["tags_restored"] == 1 and by_id[restored]["members_restored"] == 1
    assert by_id[purged]["locations_linked"] == 1 and by_id[unlinked]["locations_linked"] == 1
    for image_id, store in ((restored, "fast"), (purged, "fast"), (unlinked, "archive"), (stamped, "fast")):
        row = world.rows("images", image_id)[0]
        assert (row["status"], row["deleted"], row["deleted_at"]) == ("active", 0, None)
        live = [location for location in world.rows("image_locations", image_id) if not location["deleted"]]
        assert [(location["value"], location["status"]) for location in live] == [
            (f"file://{world.data_file(image_id, store)}", "active")
        ]
        assert json.loads(live[0]["meta_data"]) == {"store": store}
    assert [line["action"] for line in map(json.loads, audit.read_text().splitlines())] == ["repair"] * 4
    assert problems(broken(world)) == {corrupt: ["unlinked"], missing: ["data_missing"]}


# -- the real glance-scrubber --restore and glance-manage db purge ------------------------------------


@pytest.fixture
def glance_world(tmp_path: Path) -> Iterator[GlanceWorld]:
    """A MariaDB world with the real schema, for the real Glance to work on."""
    for url in mariadb_database():
        engine = create_engine(url)
        yield GlanceWorld(kind="mariadb", url=url, engine=engine, root=tmp_path)
        engine.dispose()


def run_glance(install: glance_reference.GlanceInstall, tool: str, config: Path, *args: str) -> str:
    empty = config.parent / "empty.d"
    empty.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OS_", "PYTHON"))}
    done = subprocess.run(
        [str(install.venv_dir / "bin" / tool), "--config-file", str(config), "--config-dir", str(empty), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, (tool, args, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout + done.stderr


@pytest.mark.mariadb
def test_what_the_real_glance_scrubber_restore_leaves(
    glance_world: GlanceWorld, real_glance: glance_reference.GlanceInstall, tmp_path: Path
) -> None:
    world = glance_world
    old = [world.image(stores=[None], deleted_ago=timedelta(days=40), tags=["t"]) for _ in range(2)]
    recent = world.image(stores=[None], deleted_ago=timedelta(days=2), properties={"a": "b"})
    for image_id in [*old, recent]:
        record_checksums(world, image_id, None)
    config = glance_reference.write_scrubber_config(
        db_url=world.url, datadir=world.stores["legacy"], workdir=tmp_path / "glance"
    )
    for image_id in [*old, recent]:
        run_glance(real_glance, "glance-scrubber", config, "--restore", image_id)
    rows = world.rows("images", recent)[0]
    assert rows["status"] == "active" and rows["deleted_at"] is not None  # what Glance's restore leaves
    assert [location["status"] for location in world.rows("image_locations", recent)] == ["pending_delete"]
    for image_id in [*old, recent]:
        age(world.data_file(image_id, None))
    listing = broken(world)
    assert problems(listing) == {key: ["restored_without_locations"] for key in [*old, recent]}
    assert all(items[0]["repairable"] for items in listing.values())
    run_glance(real_glance, "glance-manage", config, "db", "purge", "--age_in_days", "30", "--max_rows", "1000")
    assert world.rows("image_locations", old[0]) == [] and world.rows("image_tags", old[0]) == []
    assert len(world.rows("image_locations", recent)) == 1
    listing = broken(world)
    assert problems(listing) == {key: ["restored_without_locations"] for key in [*old, recent]}
    assert [item["state"] for item in listing[old[0]][0]["locations"]] == ["found by id"]
    before = world.checksum()
    reclaim = world.cli("orphans", "--reclaim", "--yes", "--older-than", "0s", "-f", "json")
    assert json.loads(reclaim.stdout)["orphans"] == [] and world.checksum() == before
    _code = world.cli("orphans", "-f", "json")
    assert {item["kind"] for item in json.loads(_code.stdout)} == {"unlinked"}
    done = world.cli("broken", "--repair", "-f", "json")
    assert done.exit_code == 0, done.stdout
    results = {item["id"]: item for item in json.loads(done.stdout)["images"]}
    assert {key: item["result"] for key, item in results.items()} == dict.fromkeys([*old, recent], "repaired")
    assert results[recent]["locations_restored"] == 1 and results[recent]["properties_restored"] == 1
    assert results[old[0]]["locations_linked"] == 1
    assert broken(world) == {}
    for image_id in [*old, recent]:
        assert glance_download_size(real_glance, config, image_id) == 4096


GLANCE_IMAGE_PROBE = """
import sys
from oslo_config import cfg
import glance.context
from glance.db.sqlalchemy import api
cfg.CONF(["--config-file", sys.argv[1]], project="glance")
image = api.image_get(glance.context.RequestContext(is_admin=True), sys.argv[2])
live = [location for location in image["locations"] if location["status"] == "active"]
path = live[0]["url"][len("file://"):]
print(image["status"], len(live), len(open(path, "rb").read()))
"""


def glance_download_size(install: glance_reference.GlanceInstall, config: Path, image_id: str) -> int:
    """What Glance's own database API says the image is: active, one live location, its bytes."""
    done = subprocess.run(
        [str(install.python), "-c", GLANCE_IMAGE_PROBE, str(config), image_id],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    status, live, size = done.stdout.split()
    assert (status, live) == ("active", "1")
    return int(size)


def test_unknown_ids_are_refused(world: GlanceWorld) -> None:
    result = world.cli("broken", "--repair", "-f", "json", str(uuid.uuid4()))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["images"][0]["result"] == "refused"


def test_repair_says_which_ids_name_no_image_and_which_are_not_broken(world: GlanceWorld) -> None:
    healthy = world.image(deleted_ago=None)
    missing = str(uuid.uuid4())
    for dry in ((), ("--dry-run",)):
        result = world.cli("broken", "--repair", "-f", "json", *dry, missing, healthy)
        assert result.exit_code == 1
        reasons = {item["id"]: (item["result"], item["reason"]) for item in json.loads(result.stdout)["images"]}
        assert reasons == {
            missing: ("refused", "no such image"),
            healthy: ("refused", "not broken (as far as this scan can tell)"),
        }
    assert world.status(healthy) == "active"


def test_repair_on_a_terminal_shows_what_it_will_change_and_asks(world: GlanceWorld) -> None:
    restored = world.image(name="restored-debian")
    scrubber_restore(world, restored)
    stamped = world.image(deleted_ago=None, name="stamped")
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == stamped).values(deleted_at=images.c.created_at))
    missing = world.image(deleted_ago=None, name="missing")
    world.data_file(missing).unlink()
    before = world.checksum()
    code, output = run_on_terminal(world.config_file, ["broken", "--repair", restored, stamped, missing], "n")
    assert code == 1 and "nothing done" in output
    assert world.checksum() == before
    lines = screen(output)
    prompt = next(index for index, line in enumerate(lines) if "[y/n]" in line)
    assert "Repair 2 image(s)?" in lines[prompt]
    row = next(line for line in lines[:prompt] if restored in line)
    assert "restored-debian" in row and "restored_without_locations" in row and "bring back its locations" in row
    row = next(line for line in lines[:prompt] if stamped in line)
    assert "deleted_at_set" in row and "clear deleted_at" in row
    row = next(line for line in lines[:prompt] if missing in line)
    assert "data_missing is reported, never repaired" in row
    assert lines.index(row) > next(index for index, line in enumerate(lines) if "Left alone (refused)" in line)
    code, output = run_on_terminal(world.config_file, ["broken", "--repair"], "\x04")  # end of input (Ctrl-D)
    assert code == 1 and "nothing done" in output
    assert world.checksum() == before
    code, output = run_on_terminal(world.config_file, ["broken", "--repair", "--yes"], None)
    assert code == 0 and "[y/n]" not in output
    assert world.rows("images", restored)[0]["deleted_at"] is None
    assert world.rows("images", stamped)[0]["deleted_at"] is None


def test_repair_summary_is_a_sentence_with_milliseconds(world: GlanceWorld) -> None:
    stamped = world.image(deleted_ago=None)
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == stamped).values(deleted_at=images.c.created_at))
    dry = world.cli("broken", "--repair", "--dry-run", stamped, str(uuid.uuid4()))
    summary = next(line for line in dry.stdout.splitlines() if line.startswith("Summary"))
    assert re.fullmatch(
        r"Summary \(dry run; nothing changed\): 1 would be repaired, 1 refused in (\d+ ms|\d+\.\d s)", summary
    )
    done = world.cli("broken", "--repair")  # off a terminal nothing is asked, as for scrub
    summary = next(line for line in done.stdout.splitlines() if line.startswith("Summary"))
    assert re.fullmatch(r"Summary: 1 repaired, 0 refused in (\d+ ms|\d+\.\d s)", summary)
    assert json.loads(world.cli("broken", "--repair", "-f", "json").stdout)["summary"]["duration_seconds"] >= 0
    wrong = world.cli("broken", "--yes")
    assert wrong.exit_code == 2 and "--yes go with --repair" in wrong.stderr
