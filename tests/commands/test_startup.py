"""What scrubctl imports to start: --version, --help and Tab completion stay clear of the database
and terminal libraries (their start-up time is in bench/startup.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from scrubctl.commands.completion import COMPLETE_VAR
from tests.support.world import invoke

HEAVY_PACKAGES = ("sqlalchemy", "rich", "pymysql", "dateutil")


def imported_packages(arguments: list[str], environment: dict[str, str] | None = None) -> tuple[set[str], str]:
    """Run ``python -X importtime -m scrubctl ARGUMENTS``; return the top-level packages it imported
    and its standard output."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scrubctl", *arguments],
        env=dict(os.environ, **(environment or {})),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, done.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}
    return names, done.stdout


def completion_request(words: str) -> dict[str, str]:
    """The environment bash's completion function gives scrubctl for the words typed so far."""
    return {COMPLETE_VAR: "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}


@pytest.mark.parametrize(
    ("arguments", "environment", "expected"),
    [
        (["--version"], None, "scrubctl, version"),
        (["--help"], None, "list-pending"),
        (["scrub", "--help"], None, "--dry-run"),
        ([], completion_request("scrubctl li"), "plain,list-pending"),
        ([], completion_request("scrubctl scrub --dry"), "plain,--dry-run"),
    ],
    ids=["version", "help", "command-help", "complete-command", "complete-option"],
)
def test_version_help_and_completion_import_no_database_or_terminal_library(
    arguments: list[str], environment: dict[str, str] | None, expected: str
) -> None:
    names, output = imported_packages(arguments, environment)
    assert expected in output
    assert names.isdisjoint(HEAVY_PACKAGES), sorted(names & set(HEAVY_PACKAGES))
    assert "click" in names and "scrubctl" in names  # the import log is the one of this run


def test_a_listing_still_imports_what_it_uses(tmp_path: Path) -> None:
    # The module check above cannot pass by looking at nothing: a command that reads the database
    # shows SQLAlchemy and rich in the same kind of log.
    sandbox = tmp_path / "sandbox"
    names, _output = imported_packages(["sandbox", str(sandbox)])
    assert "sqlalchemy" in names
    names, output = imported_packages(["--config-file", str(sandbox / "glance-api.conf"), "list-pending"])
    assert {"sqlalchemy", "rich"} <= names
    assert output.startswith("Pending images:")


def test_a_database_error_is_still_reported_as_one(tmp_path: Path) -> None:
    # SQLAlchemy's errors are recognised without importing SQLAlchemy up front: a database whose
    # images table is damaged (its schema intact) fails mid-listing with one line and exit 3.
    sandbox = tmp_path / "sandbox"
    assert invoke(["sandbox", str(sandbox)]).exit_code == 0
    database = sandbox / "glance.sqlite"
    with closing(sqlite3.connect(database)) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'images'").fetchone()[0]
    with database.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)
    result = invoke(["--db-url", f"sqlite:///{database}", "list-pending"])
    assert result.exit_code == 3
    assert result.stderr == "scrubctl: error: database error: database disk image is malformed\n"
