from __future__ import annotations

from pathlib import Path

import pytest

from scrubctl.errors import ConfigError
from scrubctl.settings.config import load_settings, parse_enabled_backends
from tests.support.world import invoke


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_files_are_read_in_order_and_db_url_overrides(tmp_path: Path) -> None:
    api = write(tmp_path / "api.conf", "[database]\nconnection = sqlite:///a\n[DEFAULT]\nscrub_time = 10\n")
    scrubber = write(tmp_path / "scrubber.conf", "[DEFAULT]\nscrub_time = 20\n")
    settings = load_settings([api, scrubber], None)
    assert settings.scrub_time == 20
    assert settings.database_url.reveal() == "sqlite:///a"
    assert load_settings([api], "sqlite:///b").database_url.reveal() == "sqlite:///b"


def test_enabled_backends() -> None:
    assert parse_enabled_backends(" fast:file , cheap : rbd,") == {"fast": "file", "cheap": "rbd"}
    with pytest.raises(ConfigError, match="twice"):
        parse_enabled_backends("a:file, a:rbd")
    with pytest.raises(ConfigError, match="NAME:DRIVER"):
        parse_enabled_backends("a")
    with pytest.raises(ConfigError, match="reserved"):
        parse_enabled_backends("os_glance_staging_store:file")


def test_store_resolution(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "api.conf",
        "[DEFAULT]\nenabled_backends = fast:file, ceph:rbd\n[database]\nconnection = sqlite:///x\n"
        "[glance_store]\nfilesystem_store_datadir = /legacy\n[fast]\nfilesystem_store_datadir = /fast\n"
        "[backend_defaults]\nrbd_store_pool = images\n",
    )
    settings = load_settings([conf], None)
    assert settings.store("fast", "file").get("filesystem_store_datadir") == "/fast"
    assert settings.store(None, "file").get("filesystem_store_datadir") == "/legacy"
    assert settings.store("ceph", "rbd").get("rbd_store_pool") == "images"
    with pytest.raises(LookupError, match="unknown store 'gone'"):
        settings.store("gone", "file")
    with pytest.raises(LookupError, match="is a rbd store"):
        settings.store("ceph", "file")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[DEFAULT]\nscrub_time = soon\n", "scrub_time must be a whole number"),
        ("[DEFAULT]\nscrub_time = -1\n", "must not be negative"),
        ("[DEFAULT]\nmetadata_encryption_key = short\n", "16, 24 or 32 bytes"),
        ("[DEFAULT]\nenabled_backends = fast\n", "NAME:DRIVER"),
        ("[DEFAULT]\nenabled_backends = a:file\n[glance_store]\ndefault_backend = b\n", "default_backend 'b'"),
    ],
)
def test_bad_values_are_one_line_and_exit_3(tmp_path: Path, text: str, message: str) -> None:
    conf = write(tmp_path / "api.conf", text + "[database]\nconnection = sqlite:///x\n")
    result = invoke(["--config-file", str(conf), "list-pending"])
    assert result.exit_code == 3
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_missing_file_and_missing_url(tmp_path: Path) -> None:
    missing = invoke(["--config-file", str(tmp_path / "nope.conf"), "list-pending"])
    assert missing.exit_code == 3
    assert "does not exist" in missing.stderr
    conf = write(tmp_path / "api.conf", "[DEFAULT]\nscrub_time = 1\n")
    no_url = invoke(["--config-file", str(conf), "list-pending"])
    assert no_url.exit_code == 3
    assert "no database URL" in no_url.stderr


def test_unreadable_file(tmp_path: Path) -> None:
    conf = write(tmp_path / "api.conf", "[database]\nconnection = sqlite:///x\n")
    conf.chmod(0)
    try:
        if conf.open("rb"):
            pytest.skip("running with privileges that read any file")
    except PermissionError:
        result = invoke(["--config-file", str(conf), "list-pending"])
        assert result.exit_code == 3
        assert "not readable" in result.stderr
    finally:
        conf.chmod(0o600)


def test_passwords_never_appear(tmp_path: Path) -> None:
    url = "mysql+pymysql://glance:Sup3rS3cret@127.0.0.1:1/glance"
    conf = write(tmp_path / "api.conf", f"[database]\nconnection = {url}\n")
    result = invoke(["--config-file", str(conf), "list-pending"])
    assert result.exit_code == 3
    assert "Sup3rS3cret" not in result.stderr + result.stdout
    assert "glance:***@127.0.0.1:1" in result.stderr
    direct = invoke(["--db-url", url, "-v", "list-pending"])
    assert direct.exit_code == 3
    assert "Sup3rS3cret" not in direct.stderr + direct.stdout


def test_unusable_urls(tmp_path: Path) -> None:
    bad = invoke(["--db-url", "not a url", "list-pending"])
    assert bad.exit_code == 3
    assert "not a valid SQLAlchemy URL" in bad.stderr
    driver = invoke(["--db-url", "oracle+nothing://u:hunter22@h/db", "list-pending"])
    assert driver.exit_code == 3
    assert "hunter22" not in driver.stderr


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("postgresql://glance:hunter22@db.example/glance", "PostgreSQL"),
        ("postgresql+psycopg2://glance:hunter22@db.example/glance", "PostgreSQL"),
        ("oracle://glance:hunter22@db.example/glance", "Oracle"),
    ],
)
def test_only_mysql_mariadb_and_sqlite_are_supported(url: str, server: str) -> None:
    result = invoke(["--db-url", url, "list-pending"])
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"{server} is not supported" in result.stderr
    assert "scrubctl supports MySQL and MariaDB (mysql://) and SQLite (sqlite:///PATH)" in result.stderr
    assert "hunter22" not in result.stderr and "ModuleNotFoundError" not in result.stderr
    check = invoke(["--db-url", url, "check"])
    assert check.exit_code == 3
    assert (
        f"FAIL database: database URL {url.split('//')[0]}//glance:***@db.example/glance: {server} is not supported"
        in check.stdout
    )
