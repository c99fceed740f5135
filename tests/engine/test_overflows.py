"""Numbers too large for SQL, dates, timers or sockets: one line and exit 2 (an option) or 3 (the
configuration), never "unexpected error"."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrubctl.errors import ConfigError
from scrubctl.settings.config import load_settings
from tests.support.world import GlanceWorld

HUGE = "99999999999999999999999"


def only_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("scrubctl: error:")]
    assert len(errors) == 1, stderr
    assert "unexpected" not in stderr and "Traceback" not in stderr
    return errors[0]


@pytest.mark.parametrize("command", [("list-pending",), ("scrub", "--dry-run"), ("scrub", "--yes")])
def test_a_limit_too_large_for_sql_is_bad_input(world: GlanceWorld, command: tuple[str, ...]) -> None:
    image = world.image()
    result = world.cli(*command, "--limit", HUGE)
    assert result.exit_code == 2
    assert "--limit" in only_line(result.stderr)
    assert world.data_file(image).exists()
    assert world.cli(*command, "--limit", str(2**63 - 1)).exit_code == 0  # the largest one works


@pytest.mark.parametrize(
    ("group", "key", "value"),
    [
        ("DEFAULT", "scrub_time", "99999999999"),
        ("DEFAULT", "scrub_time", "1e23"),
        ("scrubctl", "claim_timeout", "99999999999"),
    ],
)
def test_a_configured_number_too_large_is_a_configuration_error(
    world: GlanceWorld, group: str, key: str, value: str
) -> None:
    image = world.image()
    overriding = world.root / "overflow.conf"  # read after the world's own file: its value wins
    overriding.write_text(f"[{group}]\n{key} = {value}\n")
    for command in (("list-pending",), ("scrub", "--yes")):
        result = world.cli("--config-file", str(overriding), *command)
        assert result.exit_code == 3
        assert f"[{group}] {key} must be" in only_line(result.stderr)
    assert world.data_file(image).exists()
    assert world.status(image) == "pending_delete"


@pytest.mark.parametrize("value", ["1e23", "inf", "nan"])
def test_a_store_timeout_too_large_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "glance-api.conf"
    path.write_text(
        "[DEFAULT]\nenabled_backends = objects:swift\n[database]\nconnection = sqlite:///x\n"
        f"[objects]\nscrubctl_store_timeout = {value}\nrados_connect_timeout = 5\n"
    )
    store = load_settings([path], None).store("objects", "swift")
    with pytest.raises(ConfigError, match=r"\[objects\] scrubctl_store_timeout must be a number no larger than"):
        store.get_float("scrubctl_store_timeout", 30.0)
    assert store.get_float("rados_connect_timeout", 0.0) == 5.0
