"""The README's first command on a fresh copy of the tree: ``./scripts/demo``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fresh_copy(destination: Path) -> Path:
    """Copy the files of this tree that git knows about (committed or not), as a clone would have them."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def run_demo(copy: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("SCRUBCTL_", "PYTHON", "VIRTUAL_ENV"))
    }
    return subprocess.run(
        ["./scripts/demo"], cwd=copy, env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.slow
def test_the_demo_installs_quietly_and_shows_the_log_only_when_the_install_fails(tmp_path: Path) -> None:
    copy = fresh_copy(tmp_path / "clone")
    done = run_demo(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Sandbox created in ")
    before_scrubctl = done.stderr.split("<6>", 1)[0].splitlines()  # the dry run's log lines start with <6>
    assert all(line.startswith("==> ") for line in before_scrubctl), before_scrubctl
    assert "Warning" not in done.stderr and "setuptools" not in done.stderr + done.stdout
    log = copy / ".run" / "install.log"
    assert "Successfully installed" in log.read_text()
    assert "scrub --dry-run exited 4" in done.stdout  # the sandbox's blocked image

    broken = fresh_copy(tmp_path / "broken")
    pyproject = broken / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('name = "scrubctl"', 'name = "scrubctl"\nname = "twice"'))
    failed = run_demo(broken)
    assert failed.returncode != 0
    assert "installing scrubctl failed" in failed.stderr
    assert "Cannot overwrite a value" in failed.stderr  # the log is shown, with what went wrong
    assert failed.stdout == ""
