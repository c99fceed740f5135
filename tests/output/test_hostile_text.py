"""Tenant text (image names, owners, properties, location URLs) and store text (file names) is shown
literally on every command and format, on a terminal and off it: never console markup, and every
control character escaped, so that no escape sequence reaches the operator's terminal or the journal."""

from __future__ import annotations

import csv
import io
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from scrubctl.glance.schema import images
from tests.output.test_terminal import run_on_terminal, screen
from tests.support.world import GlanceWorld

HOSTILE = (
    "[bold red]innocent[/] [link=http://evil.example]click[/link]"  # console markup
    "\x1b]0;pwned\x07"  # OSC 0: the window title
    "\x1b]8;;http://evil.example\x1b\\here\x1b]8;;\x1b\\"  # OSC 8: a hidden link
    "\x1b]52;c;cHduZWQ=\x07"  # OSC 52: the clipboard
    "\x1b[9A\x1b[2J\x1b[1;1H"  # CSI: cursor up, erase the screen, cursor home
    "\rfake\nline\u202eevil\u200dzwj"  # a bare CR, a newline, a right-to-left override, a zero-width joiner
)
# What an operator reads instead (written out here, not computed by the code under test).
SHOWN = (
    "[bold red]innocent[/] [link=http://evil.example]click[/link]"
    "\\x1b]0;pwned\\x07"
    "\\x1b]8;;http://evil.example\\x1b\\here\\x1b]8;;\\x1b\\"
    "\\x1b]52;c;cHduZWQ=\\x07"
    "\\x1b[9A\\x1b[2J\\x1b[1;1H"
    "\\rfake\\nline\\u202eevil\\u200dzwj"
)
# A name short enough to be shown whole in list-pending's 20-character name column.
SHORT, SHORT_SHOWN = "n\nl\r\u202ez\u200d", "n\\nl\\r\\u202ez\\u200d"
MARKUP = "[bold red]innocent["  # shown literally: the start of every hostile text
# Never in output off a terminal; on one, rich writes its own colours and cursor moves, but none of these.
RAW = ("\x1b", "\x07", "\r", "\u202e", "\u200d")
RAW_ON_A_TERMINAL = ("\x1b]", "\x07", "\u202e", "\u200d", "\x1b[9A", "\x1b[2J", "\x1b[1;1H")
WIDE = {"COLUMNS": "1000"}  # off a terminal: every cell whole, on one line


def file_name(text: str) -> str:
    return text.replace("/", "_")


@dataclass
class Hostile:
    """A world whose tenants wrote hostile text everywhere they can."""

    world: GlanceWorld
    named: str  # name, owner, a property and its data file's name
    short: str
    outside: str  # blocked: its URL (and so the reason) holds the text
    broken: str  # an active image whose data is gone
    data_file: Path
    orphan: Path


def hostile_world(world: GlanceWorld) -> Hostile:
    data_file = world.stores["fast"] / file_name(HOSTILE)
    data_file.write_bytes(b"x" * 4096)
    named = world.image(name=HOSTILE, properties={HOSTILE: HOSTILE}, urls=[f"file://{data_file}"])
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == named).values(owner=HOSTILE))
    short = world.image(name=SHORT)
    outside = world.image(name=HOSTILE, urls=[f"file:///tmp/{HOSTILE}"], write_files=False)
    broken = world.image(name=HOSTILE, deleted_ago=None)
    world.data_file(broken).unlink()
    orphan = world.stores["archive"] / f"orphan-{file_name(HOSTILE)}"
    orphan.write_bytes(b"y")
    return Hostile(world, named, short, outside, broken, data_file, orphan)


def table_rows(output: str, hostile: Hostile) -> dict[str, str]:
    """The table's line of each image, its columns one space apart."""
    ids = {hostile.named, hostile.short, hostile.outside, hostile.broken}
    rows = [" ".join(line.split()) for line in output.splitlines()]
    return {row[:36]: row for row in rows if row[:36] in ids}


def assert_inert(*outputs: str) -> None:
    for output in outputs:
        for raw in RAW:
            assert raw not in output, (raw, output)


def assert_inert_on_a_terminal(output: str) -> None:
    for raw in RAW_ON_A_TERMINAL:
        assert raw not in output, (raw, output)


def test_list_pending_in_every_format(world: GlanceWorld) -> None:
    hostile = hostile_world(world)
    columns = ["-c", "id", "-c", "name", "-c", "owner", "-c", "locations", "-c", "blockers"]
    table = world.cli("list-pending", "--check-backends", *columns, env=WIDE)
    assert table.exit_code == 0, table.stderr
    assert_inert(table.stdout, table.stderr)
    rows = table_rows(table.stdout, hostile)
    assert rows[hostile.named].startswith(f"{hostile.named} {MARKUP}")
    assert rows[hostile.short].startswith(f"{hostile.short} {SHORT_SHOWN} 0c4e939a")
    assert f"file /tmp/{SHOWN} lies outside" in rows[hostile.outside]
    document = json.loads(world.cli("list-pending", "-f", "json").stdout)
    by_id = {item["id"]: item for item in document}
    assert by_id[hostile.named]["name"] == HOSTILE and by_id[hostile.named]["owner"] == HOSTILE
    assert by_id[hostile.short]["name"] == SHORT
    assert by_id[hostile.named]["locations"][0]["url"] == f"file://{hostile.data_file}"
    text = world.cli("list-pending", "-f", "json").stdout
    assert_inert(text)
    assert "\\u202e" in text  # JSON escapes it on its own
    written = world.cli("list-pending", "-f", "csv", "-c", "id", "-c", "name", "-c", "owner").stdout
    assert_inert(written)
    records = list(csv.reader(io.StringIO(written)))
    assert len(records) == len(written.splitlines()) == 4  # the header and one line per image
    assert [hostile.named, SHOWN, SHOWN] in records
    assert [hostile.short, SHORT_SHOWN, "0c4e939acacf4376bdcd1129f1a054ad"] in records
    values = world.cli("list-pending", "-f", "value", "-c", "id", "-c", "name").stdout
    assert_inert(values)
    assert f"{hostile.named} {SHOWN}" in values.splitlines() and len(values.splitlines()) == 3


def test_show_in_every_format(world: GlanceWorld) -> None:
    hostile = hostile_world(world)
    table = world.cli("show", hostile.named, env=WIDE)
    assert table.exit_code == 0, table.stderr
    assert_inert(table.stdout, table.stderr)
    lines = [" ".join(line.split()) for line in table.stdout.splitlines()]
    assert f"name {SHOWN}" in lines and f"owner {SHOWN}" in lines
    assert any(line.startswith(f"property {SHOWN} {SHOWN} true") for line in lines)
    assert f"stores/fast/{file_name(SHOWN)}" in table.stdout
    values = world.cli("show", hostile.named, "-f", "value").stdout
    assert_inert(values)
    assert f"name {SHOWN}" in values.splitlines() and f"owner {SHOWN}" in values.splitlines()
    document = world.cli("show", hostile.named, "-f", "json").stdout
    assert_inert(document)
    assert json.loads(document)["properties"][0]["name"] == HOSTILE


def test_scrub_results_and_log_lines_under_journald(world: GlanceWorld) -> None:
    hostile = hostile_world(world)
    result = world.cli("-v", "scrub", "--yes", env={"JOURNAL_STREAM": "8:12345", **WIDE})
    assert result.exit_code == 4, result.stderr  # the outside image is blocked, nothing failed
    assert not hostile.data_file.exists()  # erased, whatever its name
    assert world.status(hostile.named) == "deleted" and world.status(hostile.outside) == "pending_delete"
    assert_inert(result.stdout, result.stderr)
    rows = table_rows(result.stdout, hostile)
    # A long name is shortened (it ends in an ellipsis), escaped all the same.
    assert rows[hostile.named].startswith(f"{hostile.named} {SHOWN[:30]}") and " scrubbed " in rows[hostile.named]
    assert rows[hostile.short].startswith(f"{hostile.short} {SHORT_SHOWN} scrubbed")
    assert rows[hostile.outside].startswith(f"{hostile.outside} {SHOWN[:30]}")
    assert " blocked 4.0 KiB location " in rows[hostile.outside]
    assert f": file /tmp/{SHOWN} lies outside" in rows[hostile.outside]
    lines = result.stderr.splitlines()
    assert all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines
    assert f"<6>image {hostile.named} ({SHOWN}) scrubbed, 4096 bytes" in lines
    assert f"<7>image {hostile.named}: erasing file://{hostile.data_file.parent}/{file_name(SHOWN)}" in lines
    assert any(line.startswith(f"<4>image {hostile.outside} ({SHOWN}) blocked") for line in lines)
    document = world.cli("scrub", "--dry-run", "-f", "json").stdout
    assert_inert(document)
    assert {item["name"] for item in json.loads(document)["images"]} == {HOSTILE}


def test_restore_orphans_broken_and_errors(world: GlanceWorld, tmp_path: Path) -> None:
    hostile = hostile_world(world)
    restore = world.cli("restore", hostile.outside, env=WIDE)
    assert restore.exit_code == 1  # refused: its data lies outside the store
    assert_inert(restore.stdout, restore.stderr)
    assert f"file:///tmp/{SHOWN}): file /tmp/{SHOWN} lies outside" in restore.stdout
    assert f"file:///tmp/{SHOWN}): file /tmp/{SHOWN} lies outside" in restore.stderr
    assert_inert(world.cli("restore", hostile.outside, "-f", "json").stdout)
    orphan_url = f"file://{hostile.orphan.parent}/orphan-{file_name(SHOWN)}"
    orphans = world.cli("orphans", env=WIDE)
    assert_inert(orphans.stdout, orphans.stderr)
    assert orphan_url in orphans.stdout
    assert [orphan_url] in list(csv.reader(io.StringIO(world.cli("orphans", "-f", "csv", "-c", "url").stdout)))
    assert orphan_url in world.cli("orphans", "-f", "value", "-c", "url").stdout.splitlines()
    listed = world.cli("orphans", "-f", "json").stdout
    assert_inert(listed)
    assert f"file://{hostile.orphan}" in [item["url"] for item in json.loads(listed)]
    broken = world.cli("broken", env=WIDE)
    assert_inert(broken.stdout, broken.stderr)
    assert table_rows(broken.stdout, hostile)[hostile.broken].startswith(
        f"{hostile.broken} {SHOWN} active data_missing"
    )
    assert [hostile.broken, SHOWN] in list(
        csv.reader(io.StringIO(world.cli("broken", "-f", "csv", "-c", "id", "-c", "name").stdout))
    )
    assert f"{hostile.broken} {SHOWN}" in world.cli("broken", "-f", "value", "-c", "id", "-c", "name").stdout
    assert json.loads(world.cli("broken", "-f", "json").stdout)[0]["name"] == HOSTILE
    missing = tmp_path / file_name(HOSTILE)
    error = world.cli("--db-url", f"sqlite:///{missing}", "list-pending")
    assert error.exit_code == 3
    assert_inert(error.stderr)
    assert "scrubctl: error: no such database file: " in error.stderr
    assert MARKUP in error.stderr and len(error.stderr.splitlines()) == 1


def test_on_a_terminal_tenant_text_never_drives_it(world: GlanceWorld) -> None:
    hostile = hostile_world(world)
    config = world.config_file
    for args, visible in (
        (["list-pending", "--check-backends"], MARKUP),
        (["show", hostile.named], MARKUP),
        (["restore", hostile.outside], MARKUP),
        (["orphans"], "orphan-[bold"),  # the URL folds after it
        (["broken"], MARKUP),
        (["--db-url", f"sqlite:///{world.root / file_name(HOSTILE)}", "list-pending"], MARKUP),
    ):
        code, output = run_on_terminal(config, args, None)
        assert code in (0, 1, 3), (args, output)
        assert_inert_on_a_terminal(output)
        assert visible in "\n".join(screen(output)), (args, output)
    code, output = run_on_terminal(config, ["scrub"], "n")  # the plan and the prompt
    assert code == 1
    assert_inert_on_a_terminal(output)
    shown = screen(output)
    assert any(MARKUP in line and hostile.named in line for line in shown)
    assert any(SHORT_SHOWN in line and hostile.short in line for line in shown)
    assert any(MARKUP in line and hostile.outside in line for line in shown)
    code, output = run_on_terminal(config, ["-v", "scrub"], "y")  # live progress, then the results
    assert code == 4, output  # blocked, nothing failed
    assert_inert_on_a_terminal(output)
    assert any(MARKUP in line and hostile.named in line and "scrubbed" in line for line in screen(output))
    assert not hostile.data_file.exists()


def test_on_a_terminal_under_journald_log_lines_are_escaped(world: GlanceWorld) -> None:
    hostile = hostile_world(world)
    env = {"JOURNAL_STREAM": "8:12345"}
    code, output = run_on_terminal(world.config_file, ["-v", "scrub", "--yes"], None, env=env)
    assert code == 4, output  # blocked, nothing failed
    assert_inert_on_a_terminal(output)
    lines = screen(output)
    assert f"<6>image {hostile.named} ({SHOWN}) scrubbed, 4096 bytes" in lines
    assert any(line.startswith(f"<4>image {hostile.outside} ({SHOWN}) blocked") for line in lines)


@pytest.fixture
def missing_client_world(world: GlanceWorld, monkeypatch: pytest.MonkeyPatch) -> tuple[GlanceWorld, str]:
    if world.kind != "sqlite":
        pytest.skip("the hint does not depend on the database")
    monkeypatch.setitem(sys.modules, "boto3", None)
    world.object_stores = {"objects": "s3"}
    world.extra_config = "\n[objects]\ns3_store_host = http://127.0.0.1:9\ns3_store_bucket = glance\n"
    image = str(uuid.uuid4())
    world.image(image_id=image, urls=[f"s3://127.0.0.1:9/glance/{image}"], stores=["objects"])
    return world, image


def test_install_hints_keep_their_brackets_in_tables(missing_client_world: tuple[GlanceWorld, str]) -> None:
    world, image = missing_client_world
    hint = "pip install 'scrubctl[s3]'"
    for args in (["list-pending", "--check-backends", "-c", "id", "-c", "blockers"], ["show", image], ["scrub"]):
        result = world.cli(*args, env=WIDE)
        assert hint in result.stdout, (args, result.stdout, result.stderr)


def test_a_condensed_plan_shows_names_literally(world: GlanceWorld) -> None:
    hostile = hostile_world(world)
    for _ in range(30):
        world.image(name=HOSTILE)
    shared = world.image(name=HOSTILE)  # left alone: a live image shares its data
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    code, output = run_on_terminal(world.config_file, ["scrub"], "n", lines=20)  # past a screenful
    assert code == 1
    assert_inert_on_a_terminal(output)
    shown = "\n".join(screen(output))
    assert "To erase: 33 image(s)" in shown and f"\n  {MARKUP}" in shown  # the names, wrapped
    assert f"  {shared} {MARKUP}" in shown  # what is left alone, and why
    assert world.status(hostile.named) == "pending_delete"
