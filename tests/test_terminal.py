"""scrub on a real (pseudo-)terminal: the plan, the confirmation prompt and the live progress."""

from __future__ import annotations

import os
import pty
import sys
import time
from pathlib import Path

from tests.world import GlanceWorld


def run_on_terminal(config: Path, args: list[str], answer: str | None) -> tuple[int, str]:
    """Run scrubctl with stdin, stdout and stderr on a pty; type ``answer`` at the prompt."""
    pid, descriptor = pty.fork()
    if pid == 0:  # pragma: no cover - the child process
        env = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(config), "TERM": "xterm-256color", "COLUMNS": "160"}
        env.pop("JOURNAL_STREAM", None)
        os.execvpe(sys.executable, [sys.executable, "-m", "scrubctl", *args], env)
    output = b""
    answered = answer is None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(descriptor, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Erase the data of" in output:
            os.write(descriptor, answer.encode() + b"\r")  # type: ignore[union-attr]
            answered = True
    _pid, status = os.waitpid(pid, 0)
    os.close(descriptor)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_declining_the_prompt_changes_nothing(world: GlanceWorld) -> None:
    image = world.image()
    before = world.checksum()
    code, output = run_on_terminal(world.config_file, ["scrub"], "n")
    assert "Plan: 1 image(s)" in output
    assert "Erase the data of 1 image(s)?" in output
    assert code == 1
    assert "nothing done" in output
    assert world.checksum() == before
    assert world.status(image) == "pending_delete"


def test_accepting_the_prompt_scrubs_with_live_progress(world: GlanceWorld) -> None:
    images = [world.image() for _ in range(3)]
    code, output = run_on_terminal(world.config_file, ["scrub"], "y")
    assert code == 0, output
    assert "scrubbing" in output  # the live progress bar's label
    assert "Results" in output and "scrubbed" in output
    assert {world.status(image) for image in images} == {"deleted"}


def test_yes_and_dry_run_never_prompt(world: GlanceWorld) -> None:
    world.image()
    code, output = run_on_terminal(world.config_file, ["scrub", "--dry-run"], None)
    assert code == 0 and "Erase the data" not in output and "would_scrub" in output
    code, output = run_on_terminal(world.config_file, ["scrub", "--yes"], None)
    assert code == 0 and "Erase the data" not in output


def test_no_prompt_without_a_terminal(world: GlanceWorld) -> None:
    image = world.image()
    result = world.cli("scrub")  # stdin is not a terminal here
    assert result.exit_code == 0
    assert world.status(image) == "deleted"
