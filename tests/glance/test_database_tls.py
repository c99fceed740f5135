"""A MySQL server that offers TLS gets an encrypted session, as PyMySQL's "preferred" mode gives
it, though scrubctl makes that mode's TLS context itself (once, without loading CA certificates):
against a throwaway MariaDB started with a self-signed certificate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scrubctl.glance.database import GlanceDatabase
from scrubctl.settings.secrets import Secret
from tests.support.certificates import self_signed
from tests.support.mariadb_server import mariadbd, own_mariadb

pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MariaDB server of its own on 127.0.0.1 that offers TLS; yields its URL."""
    mariadbd()
    directory = tmp_path_factory.mktemp("tls-mariadb")
    certificate, key = self_signed(directory)
    with own_mariadb(directory, f"--ssl-cert={certificate}", f"--ssl-key={key}") as server:
        yield server.database_url("mysql")


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
