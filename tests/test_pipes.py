"""A closed stdout (``scrubctl ... | head -1``) ends the command quietly, as ``ls | head`` does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.world import GlanceWorld

EXIT_SIGPIPE = 141


def run_into_a_closed_pipe(world: GlanceWorld, *args: str) -> tuple[int, str]:
    """Run scrubctl with stdout a pipe nobody reads any more (its reader has gone, like ``head``)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "scrubctl", "--config-file", str(world.config_file), *args],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["list-pending", "-f", "value", "-c", "id"],
        ["list-pending"],
        ["list-pending", "-f", "json"],
        ["list-pending", "-f", "csv"],
        ["show", "IMAGE"],
        ["scrub", "--dry-run"],
    ],
)
def test_a_closed_stdout_ends_quietly(world: GlanceWorld, args: list[str]) -> None:
    images = [world.image(stores=["fast", "archive"]) for _ in range(5)]
    before = world.checksum()
    code, stderr = run_into_a_closed_pipe(world, *[images[0] if arg == "IMAGE" else arg for arg in args])
    if args[0] == "scrub":  # its log lines go to stderr, and nothing else
        assert "error" not in stderr.lower() and "Traceback" not in stderr, stderr
    else:
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
