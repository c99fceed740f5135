from __future__ import annotations

import json
from pathlib import Path

import pytest

from scrubctl.cli import scrubctl
from tests.world import GlanceWorld, invoke


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


def test_global_options_also_work_after_the_command(world: GlanceWorld, tmp_path: Path) -> None:
    image = world.image()
    config = str(world.config_file)
    check = invoke(["check", "--config-file", config])
    assert check.exit_code == 0, check.stdout + check.stderr
    listing = invoke(["list-pending", "-f", "json", "--config-file", config])
    assert listing.exit_code == 0, listing.stderr
    assert [item["id"] for item in json.loads(listing.stdout)] == [image]
    # Given in both places, the one after the command wins for --db-url ...
    unreachable = "mysql+pymysql://glance:pw@127.0.0.1:9/glance"
    overridden = invoke(["--db-url", unreachable, "list-pending", "--db-url", world.url, "-f", "value", "-c", "id"])
    assert overridden.exit_code == 0, overridden.stderr
    assert overridden.stdout == f"{image}\n"
    # ... and configuration files are read in order, before then after.
    later = tmp_path / "later.conf"
    later.write_text("[DEFAULT]\nscrub_time = 864000\n")
    both = invoke(["--config-file", config, "list-pending", "--due", "--config-file", str(later), "-f", "json"])
    assert both.exit_code == 0, both.stderr
    assert json.loads(both.stdout) == []
    # SCRUBCTL_CONFIG_FILE is replaced by --config-file after the command, as it is before it.
    from_env = invoke(
        ["list-pending", "--due", "--config-file", config, "-f", "json"], env={"SCRUBCTL_CONFIG_FILE": str(later)}
    )
    assert [item["id"] for item in json.loads(from_env.stdout)] == [image]
    verbose = invoke(["scrub", "--dry-run", "--config-file", config, "-v"])
    assert verbose.exit_code == 0 and f"image {image}" in verbose.stderr and "started" in verbose.stderr
    quiet = invoke(["scrub", "--dry-run", "-q", "--config-file", config])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "Traceback" not in invoke(["sandbox", "/proc/scrubctl-cannot-be-here"]).stderr
    debug = invoke(["sandbox", "/proc/scrubctl-cannot-be-here", "--debug"])
    assert debug.exit_code == 3 and "Traceback" in debug.stderr
