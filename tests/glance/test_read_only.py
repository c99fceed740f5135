"""Read-only commands create and change nothing: SQLite opened read-only, no database file created."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from scrubctl.app import Application
from scrubctl.glance.schema import images
from tests.support.world import GlanceWorld, invoke

SOME_ID = "4a1b2c3d-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    "args",
    [
        ["list-pending"],
        ["list-pending", "-f", "json"],
        ["show", SOME_ID],
        ["check"],
        ["scrub", "--dry-run"],
        ["restore", "--dry-run", SOME_ID],
        ["broken"],
        ["broken", "--repair", "--dry-run"],
        ["orphans"],
        ["orphans", "--reclaim", "--dry-run"],
        ["scrub", "--yes"],
        ["restore", SOME_ID],
    ],
)
def test_no_database_file_is_created(tmp_path: Path, args: list[str]) -> None:
    for missing in (tmp_path / "new.db", tmp_path / "no-such-dir" / "new.db"):
        result = invoke(["--db-url", f"sqlite:///{missing}", *args])
        assert result.exit_code == 3, result.stdout + result.stderr
        assert f"no such database file: {missing}" in result.stdout + result.stderr
        assert "not a Glance database" not in result.stdout + result.stderr
        assert not missing.exists()
        assert not missing.parent.exists() or list(missing.parent.iterdir()) == []
    if args[0] != "check":
        assert result.stdout == ""
        errors = [line for line in result.stderr.splitlines() if line.startswith("scrubctl: error:")]
        assert len(errors) == 1


def test_a_relative_path_is_found_from_the_working_directory(
    world: GlanceWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    if world.kind != "sqlite":
        pytest.skip("a SQLite path")
    image = world.image()
    monkeypatch.chdir(world.root)
    result = invoke(["--db-url", "sqlite:///glance.sqlite", "list-pending", "-f", "value", "-c", "id"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{image}\n"


def test_the_read_only_database_refuses_writes(world: GlanceWorld) -> None:
    image = world.image()
    app = Application(config_files=(world.config_file,))
    try:
        with app.connection(read_only=True) as connection:
            assert connection.execute(select(images.c.status).where(images.c.id == image)).scalar() == "pending_delete"
            with pytest.raises(DBAPIError, match=r"(?i)read.?only"):
                connection.execute(update(images).where(images.c.id == image).values(name="changed"))
            connection.rollback()
    finally:
        app.close()
    assert world.rows("images", image)[0]["name"] == "test-image"


def test_read_only_commands_work_on_a_read_only_database(world: GlanceWorld) -> None:
    image = world.image()
    before = world.checksum()
    for args in (
        ["list-pending"],
        ["show", image],
        ["check"],
        ["scrub", "--dry-run"],
        ["restore", "--dry-run", image],
        ["broken"],
        ["broken", "--repair", "--dry-run"],
        ["orphans"],
        ["orphans", "--reclaim", "--dry-run"],
    ):
        result = world.cli(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
    assert world.checksum() == before
