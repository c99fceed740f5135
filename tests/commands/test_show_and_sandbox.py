from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from scrubctl.glance.schema import images
from tests.support.world import GlanceWorld, invoke


def test_show_a_pending_image_in_full(world: GlanceWorld) -> None:
    image = world.image(stores=["fast", "archive"], properties={"os_distro": "debian"}, tags=["gold"])
    result = world.cli("show", image, "-f", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["id"] == image
    assert document["status"] == "pending_delete"
    for column in ("min_disk", "visibility", "os_hidden", "checksum", "disk_format", "protected"):
        assert column in document
    assert [(item["store"], item["scheme"]) for item in document["locations"]] == [
        ("fast", "file"),
        ("archive", "file"),
    ]
    assert document["properties"][0]["name"] == "os_distro"
    assert document["tags"][0]["value"] == "gold"
    table = world.cli("show", image)
    assert "os_distro" in table.stdout and "archive" in table.stdout


def test_show_names_shared_data_and_escaping_paths(world: GlanceWorld) -> None:
    image = world.image()
    url = f"file://{world.data_file(image)}"
    world.image(deleted_ago=None, urls=[url])
    outside = world.image(urls=["file:///etc/passwd"], write_files=False)
    shared = json.loads(world.cli("show", image, "-f", "json").stdout)
    assert "data shared with live image" in shared["locations"][0]["blockers"][0]
    escaping = json.loads(world.cli("show", outside, "-f", "json").stdout)
    assert "outside the data directories" in escaping["locations"][0]["blockers"][0]


def test_show_refusals(world: GlanceWorld) -> None:
    active = world.image(deleted_ago=None)
    malformed = world.cli("show", "not-an-id")
    assert malformed.exit_code == 2
    assert "malformed image id" in malformed.stderr
    unknown = world.cli("show", "6f1c3a8e-0000-4000-8000-000000000000")
    assert unknown.exit_code == 1
    assert "no image" in unknown.stderr
    not_pending = world.cli("show", active)
    assert not_pending.exit_code == 1
    assert "is active, not pending_delete" in not_pending.stderr
    assert "not in the scrub queue" in not_pending.stderr


def test_sandbox_is_a_realistic_glance_world(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    created = invoke(["sandbox", str(directory)])
    assert created.exit_code == 0, created.stderr
    assert "list-pending" in created.stdout and "scrub --dry-run" in created.stdout
    config = directory / "glance-api.conf"
    listing = invoke(["--config-file", str(config), "list-pending", "-f", "json"])
    items = json.loads(listing.stdout)
    pending = [item for item in items if item["status"] == "pending_delete"]
    assert len(pending) == 8
    assert any(item["visibility"] == "community" for item in items)
    assert any(len(item["locations"]) == 2 for item in pending)
    assert any(item["status"] == "active" for item in items)
    assert {item["due"] for item in pending} == {True, False}
    ages = sorted(item["age_seconds"] for item in pending)
    assert ages[0] < 3600 and ages[-1] > 60 * 86400
    gone = [item for item in pending if not Path(item["locations"][0]["url"].removeprefix("file://")).exists()]
    assert len(gone) == 1
    for item in pending:
        for location in item["locations"]:
            path = Path(location["url"].removeprefix("file://"))
            assert path.is_relative_to(directory)
    again = invoke(["sandbox", str(directory)])
    assert again.exit_code == 2
    assert "not empty" in again.stderr


def test_sandbox_rows_are_written_as_glance_writes_them(tmp_path: Path) -> None:
    invoke(["sandbox", str(tmp_path / "s")])
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 's' / 'glance.sqlite'}")
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT i.deleted, i.deleted_at, i.updated_at, l.status, l.deleted, l.deleted_at FROM images i "
            "JOIN image_locations l ON l.image_id = i.id WHERE i.status = 'pending_delete'"
        ).fetchall()
    for deleted, deleted_at, updated_at, location_status, location_deleted, location_deleted_at in rows:
        assert deleted == 1 and location_deleted == 1
        assert deleted_at == updated_at
        assert location_status == "pending_delete"
        assert location_deleted_at is not None
    engine.dispose()


def test_show_value_is_one_key_and_value_a_line_with_locations_blockers_and_properties(world: GlanceWorld) -> None:
    image = world.image(stores=["fast", "archive"], properties={"os_distro": "debian"}, tags=["gold"], size=5000)
    live = world.image(deleted_ago=None, urls=[f"file://{world.data_file(image)}"])
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == image).values(name="first line\nsecond line"))
    result = world.cli("show", image, "-f", "value")
    assert result.exit_code == 0, result.stderr
    values = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert values["id"] == image
    assert values["name"] == "first line\\nsecond line"  # one record per line
    assert values["size_human"] == "4.9 KiB"
    assert values["locations.0.url"] == f"file://{world.data_file(image)}"
    assert values["locations.0.store"] == "fast" and values["locations.1.store"] == "archive"
    assert values["locations.0.blockers.0"].startswith(f"data shared with live image(s) {live}")
    assert values["locations.1.blockers"] == ""
    assert (values["properties.0.name"], values["properties.0.value"]) == ("os_distro", "debian")
    assert values["tags.0.value"] == "gold"
    assert values["members"] == ""
