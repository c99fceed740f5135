"""A MySQL server that offers TLS gets an encrypted session, as PyMySQL's "preferred" mode gives
it, though scrubctl makes that mode's TLS context itself (once, without loading CA certificates):
against a throwaway MariaDB started with a self-signed certificate."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from scrubctl.glance.database import GlanceDatabase
from scrubctl.settings.secrets import Secret
from tests.certificates import self_signed
from tests.conftest import require_tier

pytestmark = pytest.mark.mariadb


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MariaDB server of its own on 127.0.0.1 that offers TLS; yields its URL."""
    if shutil.which("mariadb-install-db") is None or shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None:
        require_tier("mariadb", "mariadb-install-db or mariadbd is not installed")
    directory = tmp_path_factory.mktemp("tls-mariadb")
    certificate, key = self_signed(directory)
    data = directory / "data"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal", *user],
        check=True,
        capture_output=True,
    )
    port = free_port()
    with (directory / "error.log").open("wb") as errors:
        server = subprocess.Popen(
            [
                shutil.which("mariadbd", path="/usr/sbin:/usr/bin") or "mariadbd",
                "--no-defaults",
                *user,
                f"--datadir={data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={directory / 'sock'}",
                f"--pid-file={directory / 'pid'}",
                f"--ssl-cert={certificate}",
                f"--ssl-key={key}",
                "--innodb-buffer-pool-size=16M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the TLS MariaDB did not start: {(directory / 'error.log').read_text()[-500:]}")
                time.sleep(0.1)
        yield f"mysql+pymysql://root@127.0.0.1:{port}/mysql"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_server_that_offers_tls_gets_an_encrypted_session_without_a_ca(tls_server: str) -> None:
    database = GlanceDatabase(Secret(tls_server))
    try:
        for _session in range(2):  # the second connection shares the first one's TLS context
            with database.connect() as connection:
                name, cipher = connection.exec_driver_sql("SHOW SESSION STATUS LIKE 'Ssl_cipher'").one()
                assert name == "Ssl_cipher" and cipher
            database.dispose()
    finally:
        database.dispose()
