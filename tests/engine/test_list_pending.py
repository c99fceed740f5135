from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import update

from scrubctl.glance.locations import LocationDecoder
from scrubctl.glance.schema import image_locations
from scrubctl.output.layout import Fit, fitted_table
from scrubctl.output.views import Lines, compact_location
from scrubctl.settings.config import load_settings
from scrubctl.settings.secrets import mask_url
from tests.support.world import GlanceWorld


def listed(world: GlanceWorld, *args: str) -> list[dict[str, object]]:
    result = world.cli("list-pending", "-f", "json", *args)
    assert result.exit_code == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert isinstance(parsed, list)
    return parsed


def test_lists_exactly_the_pending_images_with_the_contract_fields(world: GlanceWorld) -> None:
    pending = world.image(deleted_ago=timedelta(days=3), size=5000, properties={"os_distro": "debian"}, tags=["x"])
    community = world.image(deleted_ago=timedelta(days=2), visibility="community")
    active = world.image(deleted_ago=None)
    items = listed(world)
    assert sorted(item["id"] for item in items) == sorted([pending, community])
    first = next(item for item in items if item["id"] == pending)
    for field in ("id", "name", "owner", "size", "status", "deleted_at", "age_seconds", "due", "locations"):
        assert field in first
    assert first["status"] == "pending_delete"
    assert first["size"] == 5000
    assert isinstance(first["deleted_at"], str) and first["deleted_at"].endswith("Z")
    assert abs(int(first["age_seconds"]) - 3 * 86400) < 120  # type: ignore[call-overload]
    assert first["due"] is True
    (location,) = first["locations"]  # type: ignore[misc]
    assert location["url"] == f"file://{world.data_file(pending)}"
    assert location["store"] == "fast"
    assert location["status"] == "pending_delete"
    assert isinstance(location["id"], int)
    assert active not in [item["id"] for item in items]


def test_filters(world: GlanceWorld) -> None:
    world.scrub_time = 2 * 86400
    old = world.image(deleted_ago=timedelta(days=10))
    recent = world.image(deleted_ago=timedelta(hours=1))
    legacy = world.image(deleted_ago=timedelta(days=5), stores=[None])
    with world.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE images SET owner = 'someone-else' WHERE id = '{legacy}'")
    ids = lambda *args: {item["id"] for item in listed(world, *args)}  # noqa: E731
    assert ids() == {old, legacy, recent}
    assert ids("--due") == {old, legacy}
    assert ids("--older-than", "6d") == {old}
    assert ids("--older-than", "2h", "--due") == {old, legacy}
    assert ids("--owner", "someone-else") == {legacy}
    assert ids("--store", "file") == {legacy}
    assert ids("--store", "fast") == {old, recent}
    # With a limit the oldest come first, in that order.
    assert [item["id"] for item in listed(world, "--limit", "2")] == [old, legacy]
    assert ids("--limit", "1", "--due") == {old}
    assert [item["id"] for item in listed(world, "--store", "fast", "--limit", "1")] == [old]
    due = {item["id"]: item["due"] for item in listed(world)}
    assert due == {old: True, legacy: True, recent: False}


def test_absolute_older_than(world: GlanceWorld) -> None:
    old = world.image(deleted_ago=timedelta(days=400))
    world.image(deleted_ago=timedelta(days=1))
    assert [item["id"] for item in listed(world, "--older-than", "2025-12-01")] == [old]


def test_pending_locations_of_active_images_have_their_own_section(world: GlanceWorld) -> None:
    image = world.image(deleted_ago=None, stores=["fast", "archive"])
    world.delete_from_store(image, "archive", ago=timedelta(days=2))
    (item,) = listed(world)
    assert item["status"] == "active"
    assert item["pending"] == "locations"
    assert [location["store"] for location in item["locations"]] == ["archive"]  # type: ignore[attr-defined]
    table = world.cli("list-pending")
    assert "Pending locations of active images" in table.stdout
    assert image in table.stdout


def test_two_locations_and_flags(world: GlanceWorld) -> None:
    two = world.image(stores=["fast", "archive"])
    gone_store = world.image()
    nothing = world.image()
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations).where(image_locations.c.image_id == gone_store).values(meta_data='{"store": "old"}')
        )
        connection.execute(
            update(image_locations).where(image_locations.c.image_id == nothing).values(status="deleted")
        )
    items = {item["id"]: item for item in listed(world)}
    assert len(items[two]["locations"]) == 2  # type: ignore[arg-type]
    assert items[two]["blockers"] == []
    assert "unknown store 'old'" in items[gone_store]["blockers"][0]  # type: ignore[index]
    assert "no pending location" in items[nothing]["blockers"][0]  # type: ignore[index]
    table = world.cli("list-pending")
    assert "unknown store 'old'" in table.stdout
    assert "Total: 3 image(s)" in table.stdout


def test_encrypted_urls_are_decrypted_row_by_row_and_userinfo_masked(world: GlanceWorld) -> None:
    key = "k" * 32
    world.encryption_key = key
    encrypted = world.image()
    world.encryption_key = None
    plaintext = world.image()
    foreign = world.image(
        urls=["swift://account:s3cretkey@auth.example/container/obj"], stores=[None], write_files=False
    )
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations)
            .where(image_locations.c.image_id == plaintext)
            .values(value=f"file://{world.data_file(plaintext)}")
        )
    without_key = {item["id"]: item for item in listed(world)}
    assert "no metadata_encryption_key" in without_key[encrypted]["blockers"][0]  # type: ignore[index]
    world.encryption_key = key
    items = {item["id"]: item for item in listed(world)}
    assert items[encrypted]["locations"][0]["url"] == f"file://{world.data_file(encrypted)}"  # type: ignore[index]
    assert items[encrypted]["locations"][0]["encrypted"] is True  # type: ignore[index]
    assert items[encrypted]["blockers"] == []
    assert items[plaintext]["locations"][0]["encrypted"] is False  # type: ignore[index]
    assert items[foreign]["locations"][0]["url"] == "swift://account:***@auth.example/container/obj"  # type: ignore[index]
    output = world.cli("list-pending").stdout + json.dumps(items)
    assert "s3cretkey" not in output
    assert key not in output
    world.encryption_key = "w" * 32
    wrong = {item["id"]: item for item in listed(world)}
    assert "cannot be decrypted" in wrong[encrypted]["blockers"][0]  # type: ignore[index]
    assert wrong[plaintext]["blockers"] == []


def test_csv_value_and_columns(world: GlanceWorld) -> None:
    image = world.image(size=1234)
    csv_out = world.cli("list-pending", "-f", "csv", "-c", "id", "-c", "size").stdout.splitlines()
    assert csv_out == ["id,size", f"{image},1234"]
    assert world.cli("list-pending", "-f", "value", "-c", "id").stdout.strip() == image
    assert list(listed(world, "-c", "id", "-c", "due")[0]) == ["id", "due"]
    bad = world.cli("list-pending", "-c", "nope")
    assert bad.exit_code == 2
    assert "unknown column(s) nope" in bad.stderr


def test_empty_queue(world: GlanceWorld) -> None:
    assert listed(world) == []
    table = world.cli("list-pending")
    assert "Total: 0 image(s)" in table.stdout


@pytest.mark.parametrize("bad", ["7x", "yesterday", "-1d"])
def test_bad_age_is_exit_2_and_one_line(world: GlanceWorld, bad: str) -> None:
    result = world.cli("list-pending", "--older-than", bad)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "P7D" in result.stderr


def listed_in_zone(world: GlanceWorld, zone: str, older_than: str) -> list[dict[str, object]]:
    env = {**os.environ, "TZ": zone, "SCRUBCTL_CONFIG_FILE": str(world.config_file)}
    command = [sys.executable, "-m", "scrubctl", "list-pending", "-f", "json", "--older-than", older_than]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    parsed: list[dict[str, object]] = json.loads(output)
    return parsed


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "UTC"])
def test_ages_are_utc_whatever_the_machine_zone(world: GlanceWorld, zone: str) -> None:
    image = world.image(deleted_ago=timedelta(hours=5))
    (item,) = listed_in_zone(world, zone, "4h")
    assert item["id"] == image
    assert abs(int(item["age_seconds"]) - 5 * 3600) < 120  # type: ignore[call-overload]
    assert listed_in_zone(world, zone, "6h") == []


def test_check_backends_names_shared_data_and_store_escapes(world: GlanceWorld) -> None:
    shared = world.image()
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    outside = world.image(urls=["file:///etc/hostname"], write_files=False)
    plain = world.image()
    assert all(item["blockers"] == [] for item in listed(world))  # rows alone show nothing wrong
    checked = {item["id"]: item["blockers"] for item in listed(world, "--check-backends")}
    assert "data shared with live image" in checked[shared][0]
    assert "outside the data directories" in checked[outside][0]
    assert checked[plain] == []


@pytest.mark.parametrize(
    "args",
    [
        ["list-pending"],
        ["list-pending", "-f", "csv"],
        ["list-pending", "-f", "json"],
        ["scrub", "--dry-run"],
        ["scrub", "--yes"],
    ],
)
def test_an_unknown_store_name_is_bad_input(world: GlanceWorld, args: list[str]) -> None:
    image = world.image()
    result = world.cli(*args, "--store", "nosuchstore")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "scrubctl: error: unknown store 'nosuchstore'; the configured stores are fast, archive, file"
    ]
    assert world.status(image) == "pending_delete"
    assert world.cli(*args, "--store", "archive").exit_code == 0


def test_compact_locations_name_the_store_and_the_path_within_it(tmp_path: Path) -> None:
    conf = tmp_path / "api.conf"
    conf.write_text(
        "[DEFAULT]\nenabled_backends = fast:file, ceph:rbd\n[database]\nconnection = sqlite:///x\n"
        "[fast]\nfilesystem_store_datadirs = /srv/a:100\nfilesystem_store_datadirs = /srv/b:50\n"
        "[ceph]\nrbd_store_pool = images\n"
    )
    decoder = LocationDecoder(load_settings([conf], None), {"file", "rbd"})

    def compact(url: str, store: str | None) -> str:
        meta = json.dumps({"store": store}) if store else "{}"
        location = decoder.decode(
            location_id=1, image_id="x", value=url, meta_data=meta, status="pending_delete", deleted_at=None
        )
        return mask_url(compact_location(location))

    image = "4a1b2c3d-0000-4000-8000-000000000001"
    assert compact(f"rbd://fsid/images/{image}/snap", "ceph") == f"ceph:{image}@snap"
    assert compact(f"rbd://fsid/old-pool/{image}/snap", "ceph") == f"ceph:old-pool/{image}@snap"
    assert compact(f"rbd://{image}", "ceph") == f"ceph:{image}"
    assert compact(f"file:///srv/b/{image}", "fast") == f"fast:{image}"
    assert compact(f"file:///srv/a/sub/{image}", "fast") == f"fast:sub/{image}"
    assert compact("file:///etc/hostname", "fast") == "fast:/etc/hostname"
    assert compact("swift+http://t:u:k/ey@auth/c/o", None) == "swift:swift+http://t:***@auth/c/o"


@pytest.mark.parametrize("columns", [80, 60])
def test_a_narrow_terminal_keeps_every_column_that_decides_an_erase(world: GlanceWorld, columns: int) -> None:
    long_name = world.image(name="ubuntu-24.04-server-cloudimg-amd64-with-a-name-longer-than-the-terminal-allows")
    two = world.image(stores=["fast", "archive"], name="two-stores", size=300000)
    gone_store = world.image(name="gone-store")
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations).where(image_locations.c.image_id == gone_store).values(meta_data='{"store": "old"}')
        )
    result = world.cli("list-pending", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= columns for line in lines)
    header = next(line for line in lines if line.split()[:1] == ["ID"])
    assert header.split() == ["ID", "Size", "Age", "Due"]
    for image, size in ((long_name, "4.0 KiB"), (two, "293.0 KiB"), (gone_store, "4.0 KiB")):
        row = next(line for line in lines if image in line)  # the id whole, on one line
        assert row.split() == [image, *size.split(), "1d", "yes"]
    below = {image: _lines_below(lines, image) for image in (long_name, two, gone_store)}
    assert below[long_name][0].startswith("Name: ubuntu-24.04-server-cloudimg")
    assert below[long_name][0].endswith("…")  # shortened, not dropped
    assert [line.split(":")[0] for line in below[two][1:]] == ["fast", "archive"]  # store names whole
    reason = " ".join(" ".join(below[gone_store]).split())
    assert "Blocked by: location" in reason and "unknown store 'old' (not in enabled_backends)" in reason


def _lines_below(lines: list[str], image: str) -> list[str]:
    """The lines stacked under an image's row (up to the next row or the end of the table)."""
    start = next(index for index, line in enumerate(lines) if image in line) + 1
    end = next(index for index in range(start, len(lines)) if not lines[index].startswith("  "))
    return [line.strip() for line in lines[start:end]]


def test_columns_are_named_by_their_headers_too_and_values_keep_one_record_per_line(world: GlanceWorld) -> None:
    image = world.image(size=1234, name="two\nlines")
    csv_out = world.cli("list-pending", "-f", "csv", "-c", "ID", "-c", "blocked by", "-c", "Age", "-c", "SIZE")
    assert csv_out.stdout.splitlines()[0] == "id,blockers,age_seconds,size"
    assert list(listed(world, "-c", "Due", "-c", "Deleted at")[0]) == ["due", "deleted_at"]
    assert world.cli("list-pending", "-f", "value", "-c", "id", "-c", "Name").stdout == f"{image} two\\nlines\n"
    bad = world.cli("list-pending", "-c", "Blocked")
    assert bad.exit_code == 2
    assert "unknown column(s) Blocked" in bad.stderr
    assert "age_seconds (Age)" in bad.stderr and "blockers (Blocked by)" in bad.stderr


def test_a_cell_of_several_lines_is_as_wide_as_its_widest_line() -> None:
    fits = (Fit("ID", width=36), Fit("Locations", min_width=10, max_width=60, no_wrap=True), Fit("Why"))
    cell = Lines(("fast:4a1b2c3d-0000-4000-8000-000000000001", "archive:4a1b2c3d-0000-4000-8000-000000000001"))
    output = io.StringIO()
    Console(file=output, width=200).print(fitted_table(fits, [("4a1b2c3d", cell, "-")], 200))
    header = output.getvalue().splitlines()[0]
    assert header.index("Why") - header.index("Locations") == len("archive:4a1b2c3d-0000-4000-8000-000000000001") + 3
