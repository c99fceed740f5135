"""A closed stdout (``scrubctl ... | head -1``) ends a listing quietly, as ``ls | head`` does; a run
that has done its work keeps its own exit code whoever stopped reading (``scrub --yes 2>&1 | head -3``)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.world import GlanceWorld

EXIT_SIGPIPE = 141


def run_into_a_closed_pipe(world: GlanceWorld, *args: str, stderr_too: bool = False) -> tuple[int, str]:
    """Run scrubctl with stdout (and stderr, with ``stderr_too``) a pipe nobody reads any more (its
    reader has gone, like ``head``)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "scrubctl", "--config-file", str(world.config_file), *args],
            stdout=writer,
            stderr=writer if stderr_too else subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)
    return done.returncode, done.stderr or ""  # None: stderr went into the closed pipe too


@pytest.mark.parametrize(
    "args",
    [
        ["list-pending", "-f", "value", "-c", "id"],
        ["list-pending"],
        ["list-pending", "-f", "json"],
        ["list-pending", "-f", "csv"],
        ["show", "IMAGE"],
    ],
)
def test_a_closed_stdout_ends_quietly(world: GlanceWorld, args: list[str]) -> None:
    images = [world.image(stores=["fast", "archive"]) for _ in range(5)]
    before = world.checksum()
    code, stderr = run_into_a_closed_pipe(world, *[images[0] if arg == "IMAGE" else arg for arg in args])
    assert stderr == ""  # no "unexpected error", no traceback, no "Error closing cursor"
    assert code == EXIT_SIGPIPE
    assert world.checksum() == before


def test_head_gets_the_first_line(world: GlanceWorld) -> None:
    images = sorted(world.image() for _ in range(3))
    command = f"{sys.executable} -m scrubctl --config-file {world.config_file} list-pending -f value -c id | head -1"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout == images[0] + "\n"
    assert done.stderr == ""
    assert done.returncode == 0


@pytest.mark.parametrize("stderr_too", [False, True], ids=["stdout", "stdout-and-stderr"])
@pytest.mark.parametrize(
    "args, code",
    [
        (["scrub", "--yes"], 0),
        (["scrub", "--yes", "-f", "json"], 0),
        (["scrub", "--dry-run"], 0),
        (["scrub", "--yes", "--image", "BLOCKED", "--image", "IMAGE"], 4),
        (["restore", "IMAGE"], 0),
    ],
)
def test_a_run_that_did_its_work_keeps_its_exit_code_when_nobody_reads(
    world: GlanceWorld, tmp_path: Path, args: list[str], code: int, stderr_too: bool
) -> None:
    images = [world.image(stores=["fast", "archive"]) for _ in range(5)]
    blocked = world.image(deleted_ago=None if "BLOCKED" not in args else timedelta(days=1))
    if "BLOCKED" in args:
        world.image(deleted_ago=None, urls=[f"file://{world.data_file(blocked)}"])  # a live image shares its data
    metrics = tmp_path / "scrubctl.prom"
    if args[0] == "scrub":
        args = [*args, "--metrics-file", str(metrics)]
    args = [{"IMAGE": images[0], "BLOCKED": blocked}.get(arg, arg) for arg in args]
    exit_code, stderr = run_into_a_closed_pipe(world, *args, stderr_too=stderr_too)
    assert exit_code == code, stderr
    assert "Traceback" not in stderr and "error" not in stderr.lower(), stderr
    if args[0] == "restore":
        assert world.status(images[0]) == "active"
    elif "--dry-run" in args:
        assert {world.status(image) for image in images} == {"pending_delete"}
    else:
        assert world.status(images[0]) == "deleted" and world.status(blocked) != "deleted"
    if args[0] == "scrub":
        assert metrics.exists()  # written after the report that found nobody reading


def test_scrub_into_head_exits_with_its_own_code(world: GlanceWorld) -> None:
    images = [world.image() for _ in range(30)]
    command = (
        f"{sys.executable} -m scrubctl --config-file {world.config_file} scrub --yes 2>&1 | head -3; "
        "exit ${PIPESTATUS[0]}"
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, check=False)
    assert len(done.stdout.splitlines()) == 3
    assert done.returncode == 0, done.stdout + done.stderr
    assert {world.status(image) for image in images} == {"deleted"}
