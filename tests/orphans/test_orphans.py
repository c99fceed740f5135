"""``scrubctl orphans`` on the file store, on SQLite and MariaDB, with real files.

Every kind is found and nothing else: data that any live, pending or encrypted row needs, data of an
upload in flight, data another image's row names, is never listed; the age threshold blocks young
data; ``--reclaim --dry-run`` changes nothing; ``--reclaim`` erases exactly the reclaimable pieces and
a rerun finds none; two concurrent runs erase each piece once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from scrubctl.coordination.claims import ClaimSession
from scrubctl.glance.schema import image_locations, images
from tests.output.test_terminal import run_on_terminal, screen
from tests.support.world import GlanceWorld

OLD = time.time() - 30 * 86400
ROOT = Path(__file__).resolve().parents[2]


def age(path: Path, seconds_ago: float | None = None) -> Path:
    """Set a file's times into the past (30 days by default)."""
    moment = OLD if seconds_ago is None else time.time() - seconds_ago
    os.utime(path, (moment, moment))
    return path


def stray(world: GlanceWorld, store: str = "fast", name: str | None = None, *, old: bool = True) -> Path:
    """A file in a store that no row names."""
    path = world.stores[store] / (name or str(uuid.uuid4()))
    path.write_bytes(os.urandom(1000))
    return age(path) if old else path


def set_status(world: GlanceWorld, image_id: str, status: str, *, location_status: str | None = None) -> None:
    with world.engine.begin() as connection:
        connection.execute(update(images).where(images.c.id == image_id).values(status=status))
        if location_status is not None:
            connection.execute(
                update(image_locations)
                .where(image_locations.c.image_id == image_id)
                .values(status=location_status, deleted=True)
            )


def purge_locations(world: GlanceWorld, image_id: str) -> None:
    """What ``glance-manage db purge`` does to an image's location rows."""
    with world.engine.begin() as connection:
        connection.execute(delete(image_locations).where(image_locations.c.image_id == image_id))


def orphans(world: GlanceWorld, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = world.cli("orphans", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def by_url(listing: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["url"]: item for item in listing}


def url(path: Path) -> str:
    return f"file://{path}"


def build(world: GlanceWorld) -> dict[str, Path]:
    """One of each kind and every look-alike that is not an orphan; returns the orphans by kind."""
    staging = world.root / "staging"
    staging.mkdir()
    world.extra_config = f"\n[os_glance_staging_store]\nfilesystem_store_datadir = {staging}\n"
    found: dict[str, Path] = {}
    found["unreferenced"] = stray(world)
    purged = world.image(deleted_ago=timedelta(days=40))  # pending_delete, then its rows purged
    purge_locations(world, purged)
    found["purged"] = age(world.data_file(purged))
    scrubbed = world.image(deleted_ago=timedelta(days=40))  # rows say deleted, the file stayed
    set_status(world, scrubbed, "deleted", location_status="deleted")
    found["deleted_rows_only"] = age(world.data_file(scrubbed))
    killed = world.image(deleted_ago=None)
    purge_locations(world, killed)
    set_status(world, killed, "killed")
    found["partial_upload"] = age(world.data_file(killed))
    found["staging"] = staging / f"{uuid.uuid4()}.qcow2"  # no row: a leftover
    found["staging"].write_bytes(b"x" * 10)
    age(found["staging"])
    unlinked = world.image(deleted_ago=None)  # active, its rows gone
    purge_locations(world, unlinked)
    found["unlinked"] = age(world.data_file(unlinked))
    found["young"] = stray(world, old=False)
    # Not orphans:
    age(world.data_file(world.image(deleted_ago=None)))  # active
    age(world.data_file(world.image()))  # pending_delete, waiting for the scrubber
    saving = world.image(deleted_ago=None)  # an upload in flight, however old
    purge_locations(world, saving)
    set_status(world, saving, "saving")
    age(world.data_file(saving))
    in_flight = staging / saving  # its staged data
    in_flight.write_bytes(b"y")
    age(in_flight)
    shouted = stray(world)  # a row with an upper-case scheme, which glance_store reads all the same
    world.image(deleted_ago=None, urls=[f"FILE://{shouted}"])
    borrowed = stray(world, name=str(uuid.uuid4()))  # named by another image's row (a Nova-style snapshot)
    world.image(deleted_ago=None, urls=[url(borrowed)])
    alias = world.root / "alias"
    alias.symlink_to(world.stores["archive"])
    aliased = stray(world, "archive")  # the row names it through a symlinked alias of its directory
    world.image(deleted_ago=None, stores=["archive"], urls=[f"file://{alias}/{aliased.name}"])
    restored_rows = world.image(deleted_ago=timedelta(days=40))  # deleted rows of an image that is not deleted
    set_status(world, restored_rows, "active", location_status="deleted")
    age(world.data_file(restored_rows))
    return found


@pytest.mark.parametrize("lookups", ["one connection", "several connections"])
def test_every_kind_and_nothing_else(world: GlanceWorld, monkeypatch: Any, lookups: str) -> None:
    """Every kind and nothing else; on MySQL the statuses of the images the pieces name are read on
    several connections at once when there are many (here: whenever there is more than one)."""
    if lookups == "several connections":
        if world.engine.dialect.name != "mysql":
            pytest.skip("statuses are read on one connection on SQLite")
        from scrubctl.orphans import rows

        monkeypatch.setattr(rows, "PARALLEL_LOOKUPS", 1)
    found = build(world)
    code, listing = orphans(world)
    assert code == 0
    listed = by_url(listing)
    expected = {
        url(found["unreferenced"]): "unreferenced",
        url(found["purged"]): "unreferenced",
        url(found["deleted_rows_only"]): "deleted_rows_only",
        url(found["partial_upload"]): "partial_upload",
        url(found["staging"]): "staging",
        url(found["unlinked"]): "unlinked",
        url(found["young"]): "unreferenced",
    }
    assert {key: item["kind"] for key, item in listed.items()} == expected
    reclaimable = {key for key, item in listed.items() if item["reclaimable"]}
    assert reclaimable == set(expected) - {url(found["unlinked"]), url(found["young"])}
    young = listed[url(found["young"])]
    assert any("too young" in blocker for blocker in young["blockers"]), young
    assert any("broken --repair" in blocker for blocker in listed[url(found["unlinked"])]["blockers"])
    item = listed[url(found["purged"])]
    assert item["image_id"] == found["purged"].name and item["store"] == "fast" and item["scheme"] == "file"
    assert item["bytes"] == 4096 and item["created_at"].endswith("Z") and item["age_seconds"] >= 29 * 86400
    assert listed[url(found["staging"])]["store"] == "os_glance_staging_store"
    # a younger threshold makes the young stray reclaimable; --store narrows
    _code, narrowed = orphans(world, "--older-than", "0s", "--store", "fast")
    assert {item["store"] for item in narrowed} == {"fast"}
    assert by_url(narrowed)[url(found["young"])]["reclaimable"]
    table = world.cli("orphans")
    assert table.exit_code == 0 and "Totals by store and kind" in table.stdout and "unreferenced" in table.stdout


def test_rows_in_every_id_range_and_with_awkward_values_still_protect_their_files(world: GlanceWorld) -> None:
    """The location rows are read in primary-key ranges, aggregated by MySQL into one string per range
    and split again: rows far apart in id, and values holding the separators (a newline, a tab, in a
    live and in a deleted row), must each still protect their file."""
    kept: list[Path] = []
    for name in ("plain", "with\nnewline", "with\ttab"):
        path = stray(world, name=f"{uuid.uuid4()}-{name}")
        world.image(deleted_ago=None, urls=[url(path)])
        kept.append(path)
    restored = stray(world, name=f"{uuid.uuid4()}-dead\ttab")  # a deleted row of an image that is not deleted
    restored_id = world.image(deleted_ago=None, urls=[url(restored)])
    with world.engine.begin() as connection:
        connection.execute(
            update(image_locations).where(image_locations.c.image_id == restored_id).values(status="deleted")
        )
    far = stray(world)  # a row in a range of its own, many ids past the others
    far_image = world.image(deleted_ago=None, urls=[url(far)])
    with world.engine.begin() as connection:
        connection.execute(update(image_locations).where(image_locations.c.image_id == far_image).values(id=123_457))
    loose = stray(world)
    code, listing = orphans(world)
    assert code == 0
    assert [item["url"] for item in listing] == [url(loose)]


def test_one_name_in_several_stores_is_judged_in_each(world: GlanceWorld) -> None:
    """The scan keeps listed pieces by name: a name held by several stores (and a store nested in
    another's directory) is needed, or not, in each store on its own."""
    nested = world.stores["fast"] / "nested"
    nested.mkdir()
    world.stores["nested"] = nested
    both = str(uuid.uuid4())  # needed in fast only
    needed_here = stray(world, "fast", name=both)
    orphan_there = stray(world, "archive", name=both)
    world.image(deleted_ago=None, urls=[url(needed_here)])
    everywhere = str(uuid.uuid4())  # needed in every store
    for store in ("fast", "archive", "nested"):
        world.image(deleted_ago=None, stores=[store], urls=[url(stray(world, store, name=everywhere))])
    deep = stray(world, "nested", name=both)  # nested/<both>: no row names it
    code, listing = orphans(world)
    assert code == 0
    assert {item["url"]: item["store"] for item in listing} == {url(orphan_there): "archive", url(deep): "nested"}


def test_a_range_cut_short_by_the_server_is_read_row_by_row(world: GlanceWorld, monkeypatch: Any) -> None:
    """When MySQL cuts a range's aggregated string at group_concat_max_len, the range is read again
    row by row: every row still protects its file."""
    from scrubctl.orphans import location_rows

    monkeypatch.setattr(location_rows, "CONCAT_LIMIT", 100)  # shorter than two URLs
    kept = [stray(world) for _ in range(3)]
    for path in kept:
        world.image(deleted_ago=None, urls=[url(path)])
    loose = stray(world)
    code, listing = orphans(world)
    assert code == 0
    assert [item["url"] for item in listing] == [url(loose)]


def test_an_encrypted_row_protects_its_file_and_an_undecryptable_one_blocks_all(world: GlanceWorld) -> None:
    world.encryption_key = "0123456789abcdef0123456789abcdef"
    kept = world.image()
    age(world.data_file(kept))
    loose = stray(world)
    _code, listing = orphans(world)
    assert [item["url"] for item in listing] == [url(loose)]
    assert listing[0]["reclaimable"]
    world.encryption_key = "fedcba9876543210fedcba9876543210"  # the wrong key: rows cannot be read
    _code, listing = orphans(world)
    assert {item["url"] for item in listing} == {url(loose), url(world.data_file(kept))}
    assert not any(item["reclaimable"] for item in listing)
    assert all(any("cannot be decrypted" in blocker for blocker in item["blockers"]) for item in listing)


def test_reclaim_dry_run_changes_nothing_then_reclaim_erases_exactly_the_reclaimable(
    world: GlanceWorld, tmp_path: Path
) -> None:
    found = build(world)
    before = world.checksum()
    dry = world.cli("orphans", "--reclaim", "--dry-run", "-f", "json")
    assert dry.exit_code == 0, dry.stderr
    document = json.loads(dry.stdout)
    assert world.checksum() == before
    assert all(path.exists() for path in found.values())
    assert document["summary"]["would_reclaim"] == 5 and document["summary"]["dry_run"] is True
    assert {item["result"] for item in document["orphans"]} == {"would_reclaim"}
    audit = tmp_path / "audit.jsonl"
    metrics = tmp_path / "orphans.prom"
    done = world.cli(
        "orphans", "--reclaim", "--yes", "-f", "json", "--audit-log", str(audit), "--metrics-file", str(metrics)
    )
    assert done.exit_code == 0, done.stderr
    document = json.loads(done.stdout)
    gone = {name for name, path in found.items() if not path.exists()}
    assert gone == {"unreferenced", "purged", "deleted_rows_only", "partial_upload", "staging"}
    assert document["summary"]["reclaimed"] == 5
    assert {item["result"] for item in document["orphans"]} == {"reclaimed"}
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["result"] for line in lines] == ["started", "erased"] * 5
    assert all(line["action"] == "reclaim" for line in lines)
    text = metrics.read_text()
    assert 'scrubctl_orphans_last_run_pieces{result="reclaimed"} 5' in text
    assert 'scrubctl_orphans_found{kind="unlinked"} 1' in text
    _code, listing = orphans(world)
    assert {item["kind"] for item in listing} == {"unlinked", "unreferenced"}  # unlinked and the young stray
    assert not any(item["reclaimable"] for item in listing)
    again = world.cli("orphans", "--reclaim", "--yes", "-f", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["orphans"] == []


def test_data_not_named_like_a_glance_image_is_never_reclaimable(world: GlanceWorld) -> None:
    foreign = stray(world, name="volume-backup.img")
    _code, listing = orphans(world)
    assert [(item["url"], item["kind"], item["reclaimable"]) for item in listing] == [
        (url(foreign), "unreferenced", False)
    ]
    assert "not a Glance image id" in listing[0]["blockers"][0]


def test_max_delete_refuses_to_start(world: GlanceWorld) -> None:
    pieces = [stray(world) for _ in range(3)]
    result = world.cli("orphans", "--reclaim", "--yes", "--max-delete", "2")
    assert result.exit_code == 1 and "--max-delete" in result.stderr
    assert all(piece.exists() for piece in pieces)


def test_two_concurrent_reclaims_erase_each_piece_once(world: GlanceWorld, tmp_path: Path) -> None:
    pieces = [stray(world) for _ in range(120)]
    config = world.config_file
    runs = []
    for index in range(2):
        audit = tmp_path / f"audit-{index}.jsonl"
        command = [sys.executable, "-m", "scrubctl", "--config-file", str(config), "orphans", "--reclaim"]
        command += ["--yes", "-f", "json", "--audit-log", str(audit)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        runs.append((audit, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)))
    erased: list[str] = []
    for audit, process in runs:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()
        json.loads(stdout)
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        erased += [line["url"] for line in lines if line["result"] == "erased"]
    assert sorted(erased) == sorted(url(piece) for piece in pieces)
    assert not any(piece.exists() for piece in pieces)


def test_check_says_which_stores_orphans_lists(world: GlanceWorld) -> None:
    world.extra_config = f"\n[os_glance_tasks_store]\nfilesystem_store_datadir = {world.root / 'no-such-dir'}\n"
    result = world.cli("check")
    assert "store fast (file): reachable; listed by orphans and broken" in result.stdout
    assert "staging os_glance_tasks_store" in result.stdout and "does not exist on this node" in result.stdout
    assert result.exit_code == 3


def test_a_piece_whose_image_another_run_holds_is_left_alone(world: GlanceWorld) -> None:
    held = world.image(deleted_ago=timedelta(days=40))  # its rows purged: an orphan named by its id
    purge_locations(world, held)
    age(world.data_file(held))
    free = stray(world)
    with ClaimSession(world.engine, purpose="restore", holder="controller-2:1:cafe") as other:
        with world.engine.connect() as connection:
            assert other.take(connection, [held]) == {held}
        done = world.cli("orphans", "--reclaim", "--yes", "-f", "json")
    document = json.loads(done.stdout)
    assert done.exit_code == 0 and document["summary"]["taken_by_other_run"] == 1
    assert [item["url"] for item in document["orphans"]] == [url(free)]
    assert world.data_file(held).exists() and not free.exists()


def test_reclaim_on_a_terminal_shows_every_piece_and_what_it_leaves_alone_before_it_asks(world: GlanceWorld) -> None:
    strays = [stray(world) for _ in range(3)]
    foreign = stray(world, name="volume-backup.img")
    before = world.checksum()
    code, output = run_on_terminal(world.config_file, ["orphans", "--reclaim"], "n", columns=220)
    assert code == 1 and "nothing done" in output
    assert world.checksum() == before
    lines = screen(output)
    prompt = next(index for index, line in enumerate(lines) if "[y/n]" in line)
    assert "Erase 3 orphan piece(s) of data (2.9 KiB)?" in lines[prompt]
    shown = "\n".join(lines[:prompt])
    for path in strays:
        row = next(line for line in lines[:prompt] if path.name in line)
        assert "fast" in row and "unreferenced" in row and "1000 B" in row
    assert "To erase" in shown and "Left alone (blocked)" in shown
    left = next(line for line in lines[:prompt] if "its name is not a Glance" in line)
    assert "/fast/volume" in left and "unreferenced" in left
    code, output = run_on_terminal(world.config_file, ["orphans", "--reclaim"], "y")
    assert code == 1  # the foreign piece stays blocked
    assert not any(path.exists() for path in strays) and foreign.exists()


def test_reclaim_summary_is_a_sentence_with_milliseconds(world: GlanceWorld) -> None:
    stray(world)
    stray(world, name="volume-backup.img")
    dry = world.cli("orphans", "--reclaim", "--dry-run")
    summary = next(line for line in dry.stdout.splitlines() if line.startswith("Summary"))
    assert re.fullmatch(
        r"Summary \(dry run; nothing changed\): 1 would be reclaimed, 1 blocked, 0 failed, 0 taken by another "
        r"run; 1000 B of data would be reclaimed in (\d+ ms|\d+\.\d s)",
        summary,
    )
    done = world.cli("orphans", "--reclaim", "--yes")
    summary = next(line for line in done.stdout.splitlines() if line.startswith("Summary"))
    assert re.fullmatch(
        r"Summary: 1 reclaimed, 1 blocked, 0 failed, 0 taken by another run; 1000 B of data reclaimed in "
        r"(\d+ ms|\d+\.\d s)",
        summary,
    )
