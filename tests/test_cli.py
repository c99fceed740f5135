from __future__ import annotations

import pytest

from scrubctl.cli import scrubctl
from tests.world import invoke


@pytest.mark.parametrize("name", sorted(scrubctl.commands))
def test_every_command_has_help(name: str) -> None:
    result = invoke([name, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_root_help_and_version() -> None:
    assert invoke(["--help"]).exit_code == 0
    version = invoke(["--version"])
    assert version.exit_code == 0 and "scrubctl" in version.stdout


def test_usage_errors_are_one_line_exit_2() -> None:
    result = invoke(["list-pending", "--limit", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("scrubctl: error:")
    assert len(result.stderr.strip().splitlines()) == 1
    unknown = invoke(["no-such-command"])
    assert unknown.exit_code == 2


def test_unreachable_database_is_exit_3() -> None:
    result = invoke(["--db-url", "mysql+pymysql://glance:pw1234@127.0.0.1:9/glance", "list-pending"])
    assert result.exit_code == 3
    assert "cannot connect to mysql+pymysql://glance:***@127.0.0.1:9/glance" in result.stderr
    assert "pw1234" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
