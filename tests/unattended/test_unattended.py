"""Unattended operation: units, journald lines, signals, audit trail, metrics, check, crash safety."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

import scrubctl
from scrubctl.glance.schema import image_locations, images
from scrubctl.unattended.container_units import DEFAULT_IMAGE
from scrubctl.unattended.systemd_units import UnitOptions, service_unit, timer_unit, unit_warnings
from tests.output.test_terminal import run_on_terminal, screen
from tests.support.containers import KOLLA_UNIT, unit_commands
from tests.support.world import GlanceWorld, invoke

ROOT = Path(__file__).resolve().parents[2]
SHORT_CLAIM_TIMEOUT = 2


def spawn(world: GlanceWorld, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environment = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(world.config_file), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "scrubctl", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_consistent(world: GlanceWorld, audited: set[int] | None = None) -> None:
    """No image or location is marked deleted while its data file still exists."""
    with world.engine.connect() as connection:
        rows = connection.execute(
            select(
                image_locations.c.id, image_locations.c.value, image_locations.c.status, images.c.status
            ).select_from(image_locations.join(images, images.c.id == image_locations.c.image_id))
        ).all()
    for location_id, url, location_status, image_status in rows:
        present = Path(url.removeprefix("file://")).exists()
        if present:
            assert location_status != "deleted", f"location {location_id} deleted but its data exists"
            assert image_status != "deleted", f"image of location {location_id} deleted but its data exists"
        elif location_status == "pending_delete" and audited is not None:
            assert location_id in audited, f"location {location_id} erased without an audit record"


def test_contrib_units_are_the_generated_defaults() -> None:
    assert (ROOT / "contrib/systemd/scrubctl.service").read_text() == service_unit(UnitOptions())
    assert (ROOT / "contrib/systemd/scrubctl.timer").read_text() == timer_unit(UnitOptions())
    timer = timer_unit(UnitOptions())
    assert "Persistent=true" in timer and "RandomizedDelaySec=" in timer
    service = service_unit(UnitOptions())
    for setting in ("Type=oneshot", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "scrub --yes"):
        assert setting in service


def test_units_for_this_install_validate(world: GlanceWorld, tmp_path: Path) -> None:
    result = world.cli("systemd-units", "--output-dir", str(tmp_path / "units"))
    assert result.exit_code == 0, result.stderr
    service = (tmp_path / "units" / "scrubctl.service").read_text()
    assert f"--config-file {world.config_file.resolve()}" in service
    writable = next(line for line in service.splitlines() if line.startswith("ReadWritePaths=")).split("=", 1)[1]
    expected = {f"-{world.stores['fast']}", f"-{world.stores['legacy']}"}
    if world.kind == "sqlite":  # SQLite writes the database and its journal beside it
        expected.add(f"-{world.root}")
    assert set(writable.split()) >= expected and (world.kind == "sqlite") == (f"-{world.root}" in writable.split())
    assert "SuccessExitStatus=4\n" in service and "TimeoutStartSec=6h\n" in service
    warning = " ".join(result.stderr.split())
    # The test's files lie under /tmp (and so may this checkout, named first when it does).
    assert warning.startswith("scrubctl: warning: ") and f" {world.config_file.resolve()}, " in f" {warning[19:]}"
    assert f" {world.stores['fast']}, " in warning
    assert "lie under /tmp or /var/tmp, which the service's PrivateTmp=yes replaces" in warning
    executable = service.split("ExecStart=", 1)[1].split()[0]
    assert Path(executable).exists()
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/test installs Debian's systemd package)")
    for name in ("scrubctl.service", "scrubctl.timer"):
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(tmp_path / "units" / name)], capture_output=True, text=True, check=False
        )
        assert verified.returncode == 0, verified.stderr
        assert "scrubctl" not in verified.stderr, verified.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--user", "", "must be a name without blanks"),
        ("--user", "glance admin", "must be a name without blanks"),
        ("--user", "glance\nExecStartPre=/bin/sh", "must be a name without blanks"),
        ("--group", "glance\tx", "must be a name without blanks"),
        ("--on-calendar", "hourly\nExecStartPre=/bin/sh", "holds a newline or another control character"),
        ("--timeout-start", "6h\nUser=root", "holds a newline or another control character"),
    ],
)
def test_a_value_that_would_add_a_line_to_a_unit_is_refused(
    world: GlanceWorld, tmp_path: Path, option: str, value: str, reason: str
) -> None:
    result = world.cli("systemd-units", option, value, "--output-dir", str(tmp_path / "units"))
    assert result.exit_code == 2
    assert result.stderr.startswith("scrubctl: error: ") and reason in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "units").exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("option", "value"), [("--on-calendar", "every full moon"), ("--timeout-start", "6 fortnights")]
)
def test_systemd_analyze_checks_the_calendar_and_the_time_span(
    world: GlanceWorld, tmp_path: Path, option: str, value: str
) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/test installs Debian's systemd package)")
    result = world.cli("systemd-units", option, value, "--output-dir", str(tmp_path / "units"))
    assert result.exit_code == 2
    assert f"scrubctl: error: {option} {value!r} is not valid for systemd: Failed to parse" in result.stderr
    assert not (tmp_path / "units").exists()
    accepted = world.cli("systemd-units", "--on-calendar", "Mon *-*-* 03:00", "--timeout-start", "90min")
    assert accepted.exit_code == 0, accepted.stderr
    assert "OnCalendar=Mon *-*-* 03:00\n" in accepted.stdout and "TimeoutStartSec=90min\n" in accepted.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_paths_with_blanks_quotes_and_specifiers_are_quoted_as_systemd_reads_them(
    world: GlanceWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executable in "a dir $HOME 100%", a store in "my \"store\" 50%": ``systemd-analyze verify``
    finds the executable where the words say (it checks that it exists), and the writable path is
    written as systemd's C-style quoting reads it back."""
    weird = tmp_path / "a dir $HOME 100%"
    weird.mkdir()
    wrapper = weird / "scrubctl"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m scrubctl "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{weird}:{os.environ['PATH']}")
    world.stores["fast"] = tmp_path / 'my "store" 50%'
    world.stores["fast"].mkdir()
    result = world.cli("systemd-units", "--output-dir", str(tmp_path / "units"))
    assert result.exit_code == 0, result.stderr
    service = (tmp_path / "units" / "scrubctl.service").read_text()
    assert f'ExecStart="{tmp_path}/a dir $HOME 100%%/scrubctl" --config-file' in service
    assert f' -"{tmp_path}/my \\"store\\" 50%%"' in service
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/test installs Debian's systemd package)")
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "units" / "scrubctl.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


def test_an_install_in_a_home_directory_gets_a_read_only_home() -> None:
    options = UnitOptions(executable=Path("/home/operator/venv/bin/scrubctl"))
    assert "ProtectHome=read-only\n" in service_unit(options)
    assert "ProtectHome=yes\n" in service_unit(UnitOptions())
    (warning,) = unit_warnings(options)
    assert warning.startswith("/home/operator/venv/bin/scrubctl lies in a home directory: ")
    assert unit_warnings(UnitOptions()) == []


def test_the_units_run_this_installs_scrubctl_when_it_is_not_on_path(
    world: GlanceWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as ``python -m scrubctl`` (or from a virtualenv that is not activated), the service still
    starts the install's own console script, not the module file or the interpreter's first argument."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no scrubctl on PATH
    monkeypatch.setattr(sys, "argv", [str(Path(scrubctl.__file__).with_name("__main__.py")), "systemd-units"])
    result = world.cli("systemd-units", "--output-dir", str(tmp_path / "units"))
    assert result.exit_code == 0, result.stderr
    service = (tmp_path / "units" / "scrubctl.service").read_text()
    executable = Path(service.split("ExecStart=", 1)[1].split()[0])
    assert executable == Path(sys.executable).with_name("scrubctl").resolve()
    assert os.access(executable, os.X_OK)


def test_journald_lines_under_systemd(world: GlanceWorld) -> None:
    for _ in range(3):
        world.image()
    world.image(urls=["file:///etc/hostname"], write_files=False)
    process = spawn(world, "scrub", "--yes", env={"JOURNAL_STREAM": "8:12345", "TERM": "xterm-256color"})
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 4  # only blocked images: done, nothing failed
    lines = stderr.strip().splitlines()
    assert len(lines) >= 5
    for line in lines:
        assert line[:3] in ("<6>", "<4>", "<3>", "<7>"), line
        assert "\x1b[" not in line
    assert sum(1 for line in lines if line.startswith("<4>") and "blocked" in line) == 1
    assert "\x1b[" not in stdout


def run_into_a_journal(world: GlanceWorld, journal: Path, *args: str) -> int:
    """Run scrubctl with stdout and stderr both on ``journal``, which JOURNAL_STREAM names (its
    device and inode), as systemd connects a service to journald."""
    with journal.open("w", encoding="utf-8") as stream:
        status = os.fstat(stream.fileno())
        environment = {
            **os.environ,
            "SCRUBCTL_CONFIG_FILE": str(world.config_file),
            "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}",
        }
        return subprocess.run(
            [sys.executable, "-m", "scrubctl", *args], env=environment, stdout=stream, stderr=stream, check=False
        ).returncode


def test_into_the_journal_one_line_per_image_and_one_summary(world: GlanceWorld, tmp_path: Path) -> None:
    scrubbed = [world.image() for _ in range(2)]
    blocked = world.image(urls=["file:///etc/hostname"], write_files=False)
    assert run_into_a_journal(world, tmp_path / "journal", "scrub", "--yes") == 4
    lines = (tmp_path / "journal").read_text().splitlines()
    assert lines[0].startswith("<6>Plan: ") and lines[-1].startswith("<4>Summary: 2 scrubbed, 1 blocked, 0 failed")
    for image in [*scrubbed, blocked]:
        (line,) = [line for line in lines if image in line]
        assert line.startswith("<4>" if image == blocked else "<6>")
    assert len(lines) == 5  # no results table, no padding
    # -f json still prints its document, into the journal too
    world.image()
    assert run_into_a_journal(world, tmp_path / "journal", "scrub", "--yes", "-f", "json") == 4
    document = next(line for line in (tmp_path / "journal").read_text().splitlines() if line.startswith("{"))
    assert json.loads(document)["summary"]["scrubbed"] == 1


def test_the_kolla_containers_output_relayed_to_the_journal_has_no_table(world: GlanceWorld, tmp_path: Path) -> None:
    """The kolla unit runs scrubctl in a container whose stdout and stderr the engine relays to the
    journal: no JOURNAL_STREAM inside can name them. With the environment the unit gives the
    container, the run writes what a run under systemd writes: one line per image, one summary."""
    (start,) = unit_commands(KOLLA_UNIT)["ExecStart"]
    image_at = start.index(DEFAULT_IMAGE)
    given = dict(value.split("=", 1) for flag, value in pairwise(start[:image_at]) if flag == "--env")
    scrubbed = [world.image() for _ in range(2)]
    blocked = world.image(urls=["file:///etc/hostname"], write_files=False)
    relayed = tmp_path / "relayed"
    with relayed.open("w", encoding="utf-8") as stream:  # what the engine reads from the container: a pipe
        code = subprocess.run(
            [sys.executable, "-m", "scrubctl", "scrub", "--yes"],
            env={**os.environ, "SCRUBCTL_CONFIG_FILE": str(world.config_file), **given},
            stdout=stream,
            stderr=stream,
            check=False,
        ).returncode
    assert code == 4
    lines = relayed.read_text().splitlines()
    assert lines[0].startswith("<6>Plan: ") and lines[-1].startswith("<4>Summary: 2 scrubbed, 1 blocked, 0 failed")
    for image in [*scrubbed, blocked]:
        (line,) = [line for line in lines if image in line]
        assert line.startswith("<4>" if image == blocked else "<6>")
    assert len(lines) == 5, lines  # no results table, no padding


def test_into_the_journal_an_error_is_an_error(world: GlanceWorld, tmp_path: Path) -> None:
    world.extra_config = "\n[database]\nconnection = sqlite:////nonexistent/glance.sqlite\n"
    assert run_into_a_journal(world, tmp_path / "journal", "scrub", "--yes") == 3
    assert (tmp_path / "journal").read_text().startswith("<3>scrubctl: error: no such database file")


def run_with_read_only(directory: Path, *command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a mount namespace of its own where ``directory`` is mounted read-only, as
    systemd's ProtectSystem=strict mounts everything outside ReadWritePaths."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a read-only bind mount needs root and unshare")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(directory), *command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_read_only_file_system_is_named_not_blamed_on_privileges(world: GlanceWorld, tmp_path: Path) -> None:
    image = world.image()
    scrub = [sys.executable, "-m", "scrubctl", "--config-file", str(world.config_file), "scrub", "--yes"]
    refused = run_with_read_only(tmp_path, *scrub, env={})
    assert refused.returncode == 3
    assert refused.stderr == (
        f"scrubctl: error: read-only file system: the SQLite database {tmp_path / 'glance.sqlite'} cannot be written\n"
    )
    assert world.status(image) == "pending_delete" and world.data_file(image).exists()
    # Under systemd (INVOCATION_ID set) the likely cause is named.
    in_unit = run_with_read_only(tmp_path, *scrub, env={"INVOCATION_ID": "0" * 32})
    assert in_unit.returncode == 3
    assert f"the SQLite database {tmp_path / 'glance.sqlite'} is not in the unit's ReadWritePaths" in in_unit.stderr
    # An audit log, a metrics file: named alike.
    (tmp_path / "logs").mkdir()
    audited = run_with_read_only(tmp_path / "logs", *scrub, "--audit-log", str(tmp_path / "logs" / "a.jsonl"), env={})
    assert audited.returncode == 3
    assert f"read-only file system: the audit log {tmp_path / 'logs' / 'a.jsonl'} cannot be written" in audited.stderr
    assert world.status(image) == "pending_delete"
    # A file store: the store is unusable (as an unreachable one), the image stays pending.
    stored = run_with_read_only(world.stores["fast"], *scrub, env={})
    assert stored.returncode == 3
    assert f"read-only file system: the data directory {world.stores['fast']} of store fast cannot be written" in (
        " ".join(stored.stderr.split())
    )
    assert world.status(image) == "pending_delete" and world.data_file(image).exists()
    # The metrics file's directory is checked before anything is erased.
    measured = run_with_read_only(tmp_path / "logs", *scrub, "--metrics-file", str(tmp_path / "logs" / "m"), env={})
    assert measured.returncode == 3
    assert "read-only file system: the directory of the metrics file" in measured.stderr
    assert world.status(image) == "pending_delete" and world.data_file(image).exists()


DEAD_DATABASE = "mysql+pymysql://glance:pw1234@127.0.0.1:9/glance"


def test_under_journald_a_fatal_error_has_its_priority(world: GlanceWorld) -> None:
    # On a terminal (an operator's shell), then with journald reading stderr (JOURNAL_STREAM set),
    # even when that stream is a terminal: journalctl -p err shows a dead database.
    for env, prefix in (({}, ""), ({"JOURNAL_STREAM": "8:12345"}, "<3>")):
        code, output = run_on_terminal(world.config_file, ["--db-url", DEAD_DATABASE, "list-pending"], None, env=env)
        assert code == 3
        errors = [line for line in screen(output) if "scrubctl: error:" in line]
        assert len(errors) == 1, output
        assert errors[0].startswith(f"{prefix}scrubctl: error: cannot connect to "), errors
    spawned = spawn(world, "--db-url", DEAD_DATABASE, "scrub", "--yes", env={"JOURNAL_STREAM": "8:12345"})
    stderr = spawned.communicate(timeout=120)[1]
    assert spawned.returncode == 3
    assert stderr.startswith("<3>scrubctl: error: cannot connect to ") and len(stderr.splitlines()) == 1, stderr


def test_an_unreachable_store_is_one_error_line_whatever_its_length(world: GlanceWorld) -> None:
    image = world.image(stores=["archive"])
    world.stores["archive"].joinpath(image).unlink()
    world.stores["archive"].rmdir()
    for env in ({"JOURNAL_STREAM": "8:12345"}, {}):
        spawned = spawn(world, "scrub", "--yes", env={"COLUMNS": "80", **env})
        stderr = spawned.communicate(timeout=120)[1]
        assert spawned.returncode == 3
        unreachable = [line for line in stderr.splitlines() if "scrubctl: unreachable:" in line]
        assert len(unreachable) == 1 and len(unreachable[0]) > 80, stderr  # not wrapped at 80 columns
        prefix = "<3>" if env else ""  # its journald priority under journald
        assert unreachable[0].startswith(f"{prefix}scrubctl: unreachable: store archive: data directory "), stderr
        assert unreachable[0].endswith("does not exist or is not a directory"), stderr
    assert world.status(image) == "pending_delete"


COLOR_CODE = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-8]|9[0-7])[;m]")


def test_no_color_is_honoured(world: GlanceWorld) -> None:
    world.image(urls=["cinder://5c1e7c4a-2f0b-4d3e-9a61-0c4b8f1d2e3a"], stores=[None], write_files=False)
    for command in (["list-pending"], ["check"]):
        colored, errors = spawn(world, *command, env={"FORCE_COLOR": "1"}).communicate(timeout=60)
        plain = spawn(world, *command, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).communicate(timeout=60)[0]
        assert COLOR_CODE.search(colored), (command, errors)
        assert not COLOR_CODE.search(plain), command


@pytest.mark.slow
@pytest.mark.parametrize(("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_finishes_what_is_in_flight(world: GlanceWorld, signal_number: int, exit_code: int) -> None:
    ids = [world.image(size=64) for _ in range(1500)]
    process = spawn(world, "scrub", "--yes", "-f", "json", "--concurrency", "1")
    assert process.stderr is not None
    while True:
        line = process.stderr.readline()
        assert line, "the run ended before it scrubbed anything"
        if " scrubbed," in line:
            break
    process.send_signal(signal_number)
    stdout, _stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code
    summary = json.loads(stdout)["summary"]
    assert summary["interrupted"] is True
    assert 0 < summary["scrubbed"] < len(ids)
    assert_consistent(world)
    done = [image for image in ids if world.status(image) == "deleted"]
    assert len(done) == summary["scrubbed"]
    assert all(not world.data_file(image).exists() for image in done)
    assert all(world.data_file(image).exists() for image in ids if image not in done)
    rerun = world.cli("scrub", "--yes", "-f", "json")
    assert rerun.exit_code == 0
    assert {world.status(image) for image in ids} == {"deleted"}


def test_audit_trail_records_every_change(world: GlanceWorld, tmp_path: Path) -> None:
    two = world.image(stores=["fast", "archive"], size=100)
    gone = world.image(size=100)
    world.data_file(gone).unlink()
    blocked = world.image(urls=["file:///etc/hostname"], write_files=False)
    log = tmp_path / "audit.jsonl"
    dry = world.cli("scrub", "--yes", "--dry-run", "--audit-log", str(log))
    assert dry.exit_code == 4
    assert not log.exists() or log.read_text() == ""
    assert world.cli("scrub", "--yes", "--audit-log", str(log)).exit_code == 4
    records = [json.loads(line) for line in log.read_text().splitlines()]
    attempts = [item for item in records if item["action"] == "erase"]
    started = [(item["location_id"]) for item in attempts if item["result"] == "started"]
    outcomes = [item for item in attempts if item["result"] != "started"]
    erased = [(item["image_id"], item["result"]) for item in outcomes]
    assert sorted(erased) == sorted([(two, "erased"), (two, "erased"), (gone, "already_gone"), (blocked, "blocked")])
    # every outcome is preceded by its "started" line, written before the destructive call
    assert sorted(started) == sorted(item["location_id"] for item in outcomes)
    for item in outcomes:
        assert attempts.index(item) > [entry["location_id"] for entry in attempts].index(item["location_id"])
    assert sorted(item["image_id"] for item in records if item["action"] == "mark_deleted") == sorted([two, gone])
    assert all(item["image_id"] != blocked for item in records if item["action"] == "mark_deleted")
    for item in records:
        assert item["time"].endswith("Z") and item["host"]
    for item in outcomes:
        assert item["url"].startswith("file://")
        if item["result"] != "blocked":
            assert item["backend"] in ("fast", "archive") and isinstance(item["bytes"], int)
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_audit_log_from_configuration(world: GlanceWorld, tmp_path: Path) -> None:
    world.extra_config = f"\n[scrubctl]\naudit_log = {tmp_path / 'configured.jsonl'}\n"
    world.image()
    assert world.cli("scrub", "--yes").exit_code == 0
    assert "erase" in (tmp_path / "configured.jsonl").read_text()


def test_metrics_file_parses_and_keeps_the_last_success(world: GlanceWorld, tmp_path: Path) -> None:
    metrics = tmp_path / "scrubctl.prom"
    world.image(size=1000)
    world.image(size=500, deleted_ago=timedelta(days=9))
    assert world.cli("scrub", "--yes", "--older-than", "8d", "--metrics-file", str(metrics)).exit_code == 0
    samples = {
        (sample.name, sample.labels.get("result", "")): sample.value
        for family in text_string_to_metric_families(metrics.read_text())
        for sample in family.samples
    }
    assert samples[("scrubctl_last_run_images", "scrubbed")] == 1
    assert samples[("scrubctl_last_run_bytes", "scrubbed")] == 500
    assert samples[("scrubctl_pending_images", "")] == 1
    assert samples[("scrubctl_pending_bytes", "")] == 1000
    assert 86000 < samples[("scrubctl_oldest_pending_age_seconds", "")] < 87000
    assert samples[("scrubctl_last_run_duration_seconds", "")] >= 0
    started = samples[("scrubctl_last_run_start_timestamp_seconds", "")]
    assert abs(started - time.time()) < 120
    success = samples[("scrubctl_last_success_timestamp_seconds", "")]
    assert success >= started
    # Images left blocked are a stable state, counted apart (to alert on): the run still succeeded.
    world.image(urls=["file:///etc/hostname"], write_files=False)
    assert world.cli("scrub", "--yes", "--metrics-file", str(metrics)).exit_code == 4
    blocked_run = metrics.read_text()
    assert 'scrubctl_last_run_images{result="blocked"} 1' in blocked_run
    blocked_success = metric_value(blocked_run, "scrubctl_last_success_timestamp_seconds")
    ended = metric_value(blocked_run, "scrubctl_last_run_start_timestamp_seconds") + metric_value(
        blocked_run, "scrubctl_last_run_duration_seconds"
    )
    assert blocked_success == pytest.approx(ended, abs=0.002)  # this run's end: it succeeded
    # A run that did not succeed (a store gone) keeps the last success time.
    world.image(stores=["archive"])
    shutil.rmtree(world.stores["archive"])
    assert world.cli("scrub", "--yes", "--metrics-file", str(metrics)).exit_code == 3
    assert metric_value(metrics.read_text(), "scrubctl_last_success_timestamp_seconds") == blocked_success
    assert not list(tmp_path.glob(".scrubctl.prom.*"))


def metric_value(text: str, name: str) -> float:
    """The value of an unlabelled sample of a Prometheus text file."""
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def test_check_passes(world: GlanceWorld) -> None:
    result = world.cli("check")
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("ok   configuration")
    assert "alembic revision 2024_1_contract01" in lines[1]
    assert all(line.startswith("ok") for line in lines)


def test_check_fails_one_check_at_a_time(world: GlanceWorld, tmp_path: Path) -> None:
    shutil.rmtree(world.stores["archive"])
    result = world.cli("check")
    assert result.exit_code == 3
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and "store archive" in failing[0] and "does not exist" in failing[0]
    world.stores["archive"].mkdir()
    world.extra_config = f"\n[scrubctl]\nmetrics_file = {tmp_path / 'missing-dir' / 'm.prom'}\n"
    failing = [line for line in world.cli("check").stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and "metrics file" in failing[0]
    world.extra_config = ""
    bad_db = invoke(["--config-file", str(world.config_file), "--db-url", "sqlite:////nonexistent/dir/x.db", "check"])
    assert bad_db.exit_code == 3
    failing = [line for line in bad_db.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and failing[0].startswith("FAIL database")
    bad_config = invoke(["--config-file", str(tmp_path / "absent.conf"), "check"])
    assert bad_config.exit_code == 3
    assert bad_config.stdout.startswith("FAIL configuration")


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_inconsistent_state(world: GlanceWorld, tmp_path: Path) -> None:
    world.extra_config = f"\n[scrubctl]\nclaim_timeout = {SHORT_CLAIM_TIMEOUT}\n"  # a killed run's claims expire
    ids = [world.image(size=64, stores=["fast", "archive"] if index % 10 == 0 else ["fast"]) for index in range(1000)]
    log = tmp_path / "audit.jsonl"
    chooser = random.Random(20261122)
    for _round in range(20):
        process = spawn(world, "scrub", "--yes", "--concurrency", "2", "--audit-log", str(log))
        time.sleep(chooser.uniform(0.3, 1.2))
        process.kill()
        process.communicate(timeout=60)
        audited = {
            record["location_id"]
            for record in map(json.loads, log.read_text().splitlines() if log.exists() else [])
            if record["action"] == "erase"
        }
        assert_consistent(world, audited)
    time.sleep(SHORT_CLAIM_TIMEOUT + 0.5)  # the last killed run's claims expire
    final = world.cli("scrub", "--yes", "-f", "json")
    assert final.exit_code == 0, final.stderr
    assert {world.status(image) for image in ids} == {"deleted"}
    assert not any(world.data_file(image).exists() for image in ids)
