from __future__ import annotations

import re
from pathlib import Path

import pytest

from scrubctl.errors import ConfigError
from scrubctl.settings.oslo_syntax import OsloConfig


def parse(tmp_path: Path, *texts: str) -> OsloConfig:
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"{index}.conf"
        path.write_text(text)
        paths.append(path)
    return OsloConfig.from_files(paths)


def test_separators_comments_quotes_and_continuations(tmp_path: Path) -> None:
    config = parse(
        tmp_path,
        "# comment\n; other comment\n[DEFAULT]\n"
        "a = 1\n"
        "b: two = 2\n"
        "c = value # not a comment\n"
        'd = "quoted value"\n'
        "e = 'x'\n"
        "f = \"mismatched'\n"
        "g = first\n  second\n\tthird\n"
        "\n"
        "[Database]\nconnection = sqlite:////tmp/x\n",
    )
    assert config.get("DEFAULT", "a") == "1"
    assert config.get("DEFAULT", "b") == "two = 2"
    assert config.get("DEFAULT", "c") == "value # not a comment"
    assert config.get("DEFAULT", "d") == "quoted value"
    assert config.get("DEFAULT", "e") == "x"
    assert config.get("DEFAULT", "f") == "\"mismatched'"
    assert config.get("DEFAULT", "g") == "first\nsecond\nthird"
    assert config.get("database", "connection") == "sqlite:////tmp/x"


def test_later_files_override_and_multi_values_accumulate(tmp_path: Path) -> None:
    config = parse(
        tmp_path,
        "[glance_store]\nfilesystem_store_datadirs = /a:1\nfilesystem_store_datadir = /one\n",
        "[glance_store]\nfilesystem_store_datadirs = /b:2\nfilesystem_store_datadir = /two\n",
    )
    assert config.get("glance_store", "filesystem_store_datadir") == "/two"
    assert config.get_all("glance_store", "filesystem_store_datadirs") == ["/a:1", "/b:2"]


def test_interpolation(tmp_path: Path) -> None:
    config = parse(
        tmp_path,
        "[DEFAULT]\nbase = /srv\nprice = 5$$\n[database]\nhost = db1\n"
        "connection = mysql+pymysql://glance:pa$$word@${database.host}/glance\n"
        "[glance_store]\nfilesystem_store_datadir = $base/images\n",
    )
    assert config.get("database", "connection") == "mysql+pymysql://glance:pa$word@db1/glance"
    assert config.get("glance_store", "filesystem_store_datadir") == "/srv/images"
    assert config.get("DEFAULT", "price") == "5$"


def test_unknown_reference_names_the_option_not_the_value(tmp_path: Path) -> None:
    config = parse(tmp_path, "[database]\nconnection = mysql://glance:se$cret@db/glance\n")
    with pytest.raises(ConfigError) as raised:
        config.get("database", "connection")
    assert "[database] connection" in str(raised.value)
    assert "se$cret" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key = value\n", "outside of any [group]"),
        ("[DEFAULT\nkey = value\n", "malformed group header"),
        ("[DEFAULT]\njust words\n", "expected 'key = value'"),
        ("[DEFAULT]\n= value\n", "empty name"),
        ("[DEFAULT]\n\n  continued\n", "continues no option"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse(tmp_path, text)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        OsloConfig.from_files([tmp_path / "absent.conf"])
    with pytest.raises(ConfigError, match="is a directory"):
        OsloConfig.from_files([tmp_path])
