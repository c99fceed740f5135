"""scrub on a real (pseudo-)terminal: the plan, the confirmation prompt and the live progress."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.world import GlanceWorld


def run_on_terminal(
    config: Path,
    args: list[str],
    answer: str | None,
    lines: int = 50,
    columns: int = 160,
    *,
    enter: bool = True,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Run scrubctl with stdin, stdout and stderr on a pty of ``columns`` x ``lines``; type ``answer``
    at the prompt (then Enter, unless ``enter`` is false: Ctrl-D, Ctrl-C)."""
    pid, descriptor = pty.fork()
    if pid == 0:  # pragma: no cover - the child process
        environment = {
            **os.environ,
            "SCRUBCTL_CONFIG_FILE": str(config),
            "TERM": "xterm-256color",
            "COLUMNS": str(columns),
            "LINES": str(lines),
        }
        environment.pop("JOURNAL_STREAM", None)
        environment.update(env or {})
        # As a login shell starts a command: Ctrl-C interrupts it, even when the suite was started in
        # the background of a script, where SIGINT is ignored and the ignoring would be inherited.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvpe(sys.executable, [sys.executable, "-m", "scrubctl", *args], environment)
    output = b""
    answered = False
    deadline = time.monotonic() + 120
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
            os.kill(pid, signal.SIGKILL)  # still running at the deadline
            break
        try:
            chunk = os.read(descriptor, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/n]" in output:
            # A prompt nobody expected (answer None) is declined, so that the test fails, not hangs.
            os.write(descriptor, (answer or "n").encode() + (b"\r" if enter else b""))
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


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen(output: str) -> list[str]:
    """The lines a person saw, without colours and cursor movements."""
    return [line.rstrip() for line in ANSI.sub("", output).replace("\r", "").splitlines()]


def test_the_prompt_shows_what_it_will_erase_and_counts_only_that(world: GlanceWorld) -> None:
    debian = world.image(name="debian-12", size=300000, deleted_ago=timedelta(days=3, hours=4))
    cirros = world.image(name="cirros", size=5000, stores=["fast", "archive"], deleted_ago=timedelta(hours=2))
    shared = world.image(name="shared-base")
    live = world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    before = world.checksum()
    code, output = run_on_terminal(world.config_file, ["scrub"], "n")
    assert code == 1
    assert world.checksum() == before
    lines = screen(output)
    prompt = next(index for index, line in enumerate(lines) if "Erase the data of" in line)
    assert "Erase the data of 2 image(s)?" in lines[prompt]
    shown = "\n".join(lines[:prompt])
    assert "Plan: 2 image(s) to scrub, 1 blocked" in shown
    debian_line = next(line for line in lines[:prompt] if debian in line)
    assert "debian-12" in debian_line and "293.0 KiB" in debian_line and "3d 4h" in debian_line
    cirros_line = next(line for line in lines[:prompt] if cirros in line)
    assert "cirros" in cirros_line and "4.9 KiB" in cirros_line and "2h" in cirros_line
    assert "fast, archive" in cirros_line
    blocked_line = next(line for line in lines[:prompt] if shared in line)
    assert "shared-base" in blocked_line and f"data shared with live image(s) {live}" in shown
    assert lines.index(debian_line) < lines.index(blocked_line)  # to erase first, then what is left alone


def test_a_long_plan_is_condensed_to_a_screenful(world: GlanceWorld) -> None:
    images = [world.image(name=f"ubuntu-24.04-server-cloudimg-amd64-{index:03}", size=1000) for index in range(60)]
    shared = world.image(name="shared-base")
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    code, output = run_on_terminal(world.config_file, ["scrub"], "n", lines=20)
    assert code == 1
    lines = screen(output)
    start = next(index for index, line in enumerate(lines) if line.startswith("Plan:"))
    prompt = next(index for index, line in enumerate(lines) if "Erase the data of 60 image(s)?" in line)
    assert prompt - start < 20  # a screenful
    shown = "\n".join(lines[start:prompt])
    assert "To erase: 60 image(s)" in shown
    assert sum(shown.count(f"-{index:03}") for index in range(60)) > 9  # several names on each line
    assert re.search(r"and \d+ more", shown)
    assert "shared-base: location" in shown and "data shared with live image" in shown
    assert {world.status(image) for image in images} == {"pending_delete"}


def test_nothing_to_erase_asks_nothing(world: GlanceWorld) -> None:
    shared = world.image()
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    code, output = run_on_terminal(world.config_file, ["scrub"], None)
    assert code == 4
    assert "Erase the data" not in output and "blocked" in output
    assert world.status(shared) == "pending_delete"


def test_list_pending_shows_one_image_per_line_on_a_160_column_terminal(world: GlanceWorld) -> None:
    singles = [world.image(stores=[store], name=f"image-in-{store or 'legacy'}") for store in ("fast", "archive", None)]
    singles += [world.image(name="a-rather-long-image-name-that-is-cut") for _ in range(5)]
    two = world.image(stores=["fast", "archive"], name="two-stores")
    code, output = run_on_terminal(world.config_file, ["list-pending"], None)
    assert code == 0
    lines = screen(output)
    ids = [*singles, two]
    starts = {image: next(index for index, line in enumerate(lines) if image in line) for image in ids}
    for image in singles:
        row, after = lines[starts[image]], lines[starts[image] + 1]
        assert after.strip() == "" or any(after.strip().startswith(other) for other in ids), (row, after)
        assert len(row) <= 160
    assert f"fast:{singles[0]}" in lines[starts[singles[0]]]
    assert f"archive:{singles[1]}" in lines[starts[singles[1]]]
    assert f"file:{singles[2]}" in lines[starts[singles[2]]]  # [glance_store]'s file store
    assert f"fast:{two}" in lines[starts[two]] and f"archive:{two}" in lines[starts[two] + 1]
    assert not any("file:///" in line for line in lines)  # full URLs are for show and -f json
    # A blocked image's reason wraps in its own column; the other rows stay on one line each.
    outside = world.image(urls=["file:///etc/hostname"], write_files=False, name="outside")
    code, output = run_on_terminal(world.config_file, ["list-pending", "--check-backends"], None)
    assert code == 0
    lines = screen(output)
    assert all(len(line) <= 160 for line in lines)
    assert "fast:/etc/hostname" in next(line for line in lines if outside in line)
    words = " ".join(line[120:] for line in lines).split()
    for word in ("lies", "outside", "the", "data", "directories", "of", "store", "fast"):
        assert word in words
    for image in singles:
        after = lines[next(index for index, line in enumerate(lines) if image in line) + 1].strip()
        assert after == "" or any(after.startswith(other) for other in [*ids, outside])


def test_a_long_results_table_is_condensed_to_a_screenful(world: GlanceWorld) -> None:
    images = [world.image(name=f"ubuntu-24.04-server-cloudimg-amd64-{index:03}", size=1000) for index in range(40)]
    shared = world.image(name="shared-base")
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    unmounted = world.image(stores=["archive"], name="on-an-unmounted-share")
    world.data_file(unmounted, "archive").unlink()
    world.stores["archive"].rmdir()
    code, output = run_on_terminal(world.config_file, ["scrub", "--dry-run", "-f", "json"], None, lines=20)
    assert code == 3
    assert all(image in output for image in [*images, shared, unmounted])  # -f json lists every one
    code, output = run_on_terminal(world.config_file, ["scrub", "--yes"], None, lines=20, columns=100)
    assert code == 3
    lines = screen(output)
    start = next(index for index, line in enumerate(lines) if line.startswith("Results"))
    end = next(
        index for index, line in enumerate(lines) if line.startswith("Summary: 40 scrubbed, 1 blocked, 1 failed")
    )
    assert end - start < 20  # a screenful
    shown = "\n".join(lines[start:end])
    # The failed and blocked images first, in full (id, name, result and reason) ...
    failed = next(line for line in lines[start:end] if unmounted in line)
    assert "failed" in failed and "data directory" in failed and "on-an-unmounted-share" in shown
    blocked = next(line for line in lines[start:end] if shared in line)
    assert "blocked" in blocked and "data shared with live" in blocked and "shared-base" in shown
    assert lines.index(failed) < lines.index(blocked)
    # ... then the scrubbed ones by name, several on each line, and how many more.
    assert not any(image in shown for image in images)
    assert "Scrubbed: 40 image(s), 39.1 KiB in all:" in shown
    assert sum(shown.count(f"-{index:03}") for index in range(40)) > 4
    assert re.search(r"\.\.\. and \d+ more scrubbed \(scrub -f json lists every one\)", shown)
    assert {world.status(image) for image in images} == {"deleted"}


@pytest.mark.parametrize("columns", [80, 60])
def test_the_results_table_never_wraps_an_id(world: GlanceWorld, columns: int) -> None:
    images = [world.image(name=f"image-with-a-long-name-{index}") for index in range(3)]
    shared = world.image(name="shared-base")
    world.image(deleted_ago=None, urls=[f"file://{world.data_file(shared)}"])
    result = world.cli("scrub", "--dry-run", env={"COLUMNS": str(columns)})
    lines = result.stdout.splitlines()
    assert all(len(line) <= columns for line in lines)
    for image in [*images, shared]:
        row = next(line for line in lines if image in line)
        assert row.split()[1] == ("blocked" if image == shared else "would_scrub")
    reason = " ".join(" ".join(lines).split())
    assert f"Reason: location {world.rows('image_locations', shared)[0]['id']}: data shared with live image" in reason


def test_ctrl_d_at_the_prompt_is_no(world: GlanceWorld) -> None:
    image = world.image()
    before = world.checksum()
    code, output = run_on_terminal(world.config_file, ["scrub"], "\x04", enter=False)
    assert code == 1, output
    assert "EOFError" not in output and "unexpected error" not in output
    assert "scrubctl: warning: nothing done" in screen(output)  # a line of its own, after the prompt's
    assert world.checksum() == before
    assert world.status(image) == "pending_delete"


def test_ctrl_c_at_the_prompt_reports_on_a_line_of_its_own(world: GlanceWorld) -> None:
    image = world.image()
    before = world.checksum()
    code, output = run_on_terminal(world.config_file, ["scrub"], "\x03", enter=False)
    assert code == 130, output
    lines = screen(output)
    assert "scrubctl: error: interrupted" in lines, lines  # not "...(n): ^Cscrubctl: error: interrupted"
    assert any(line.endswith("^C") for line in lines)  # the terminal's echo, on the prompt's line
    assert world.checksum() == before
    assert world.status(image) == "pending_delete"
