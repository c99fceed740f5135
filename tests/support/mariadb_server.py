"""A MariaDB server of a test's own: started in about a second in a directory of the test's, on a free
port of 127.0.0.1, stopped afterwards. Unlike the shared server (``SCRUBCTL_TEST_MARIADB_URL``), it
may be started with options of its own (TLS) and frozen (SIGSTOP) and thawed (SIGCONT)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from scrubctl.glance.bootstrap import load_mysql_schema
from tests.conftest import require_tier

START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class OwnMariaDB:
    """A running server: its URL (``mysql+pymysql://root@127.0.0.1:PORT/``) and its process."""

    url: str
    process: subprocess.Popen[bytes]
    directory: Path

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        return self.url + name

    def create_glance_database(self, name: str = "glance") -> str:
        """Create database ``name`` with the real Glance schema; return its URL."""
        server = create_engine(self.url)
        with server.begin() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb3")
        server.dispose()
        engine = create_engine(self.database_url(name))
        with engine.begin() as connection:
            load_mysql_schema(connection)
        engine.dispose()
        return self.database_url(name)

    def freeze(self) -> None:
        """Stop the server's process (SIGSTOP): its connections stay open and nothing answers, as
        with a hung VM or a stalled disk."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        os.kill(self.process.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Freeze the server for the block; it is thawed whatever happens."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


def mariadbd() -> str:
    """The path of mariadbd, or skip (or fail, when the tier is required) without it."""
    found = shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
    if shutil.which("mariadb-install-db") is None or found is None:
        require_tier("mariadb", "mariadb-install-db or mariadbd is not installed")
    assert found is not None
    return found


@contextmanager
def own_mariadb(directory: Path, *options: str) -> Iterator[OwnMariaDB]:
    """Start a MariaDB server with its data in ``directory`` (and ``options`` on its command line);
    root logs in over TCP without a password. Stopped (thawed first) when the block ends."""
    executable = mariadbd()
    data = directory / "data"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal", *user],
        check=True,
        capture_output=True,
    )
    port = free_port()
    with (directory / "error.log").open("wb") as errors:
        process = subprocess.Popen(
            [
                executable,
                "--no-defaults",
                *user,
                f"--datadir={data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={directory / 'sock'}",
                f"--pid-file={directory / 'pid'}",
                "--innodb-buffer-pool-size=16M",
                *options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (directory / "error.log").read_text(errors="replace")[-500:]
                    pytest.fail(f"the MariaDB server of this test did not start: {log}")
                time.sleep(0.1)
        yield OwnMariaDB(f"mysql+pymysql://root@127.0.0.1:{port}/", process, directory)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=30)
