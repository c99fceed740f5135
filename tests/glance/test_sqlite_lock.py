"""A SQLite database locked by another process: scrubctl says what it waits for, and for how long."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from scrubctl.errors import DatabaseError
from scrubctl.glance.bootstrap import create_sqlite_database
from scrubctl.glance.database import SQLITE_BUSY_TIMEOUT_SECONDS, verify_glance_schema
from scrubctl.sandbox.builder import create_sandbox


def test_a_command_waiting_for_another_process_lock_says_so_then_goes_on(tmp_path: Path) -> None:
    sandbox = create_sandbox(tmp_path / "sandbox")
    database = sandbox.database_file
    holder = sqlite3.connect(database, isolation_level=None)  # another process, as far as scrubctl can tell
    holder.execute("BEGIN EXCLUSIVE")
    env = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(sandbox.config_file)}
    waiting = subprocess.Popen(
        [sys.executable, "-m", "scrubctl", "list-pending", "-f", "value", "-c", "id"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stderr is not None
        said = waiting.stderr.readline()  # blocks until scrubctl says something (or gives up, at the bound)
        assert said.rstrip("\n").endswith(
            f"waiting for another process's lock on SQLite database {database} "
            f"(for at most {SQLITE_BUSY_TIMEOUT_SECONDS} s)"
        ), said
    finally:
        holder.execute("COMMIT")
        holder.close()
    stdout, stderr = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, stderr
    assert len(stdout.split()) == len(sandbox.pending_ids) + 1  # and the active image's pending location
    assert stderr == ""  # the warning was said once


def test_a_database_locked_at_start_is_one_wait_not_two(tmp_path: Path) -> None:
    """The check that this is a Glance database does not wait a second time to name missing tables."""
    path = tmp_path / "glance.sqlite"
    create_sqlite_database(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with engine.connect() as connection, pytest.raises(DatabaseError) as raised:
            verify_glance_schema(connection)
        assert str(raised.value).startswith("the SQLite database is locked by another process")
    finally:
        holder.execute("COMMIT")
        holder.close()
        engine.dispose()
