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
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

import scrubctl
from scrubctl.glance.schema import image_locations, images
from scrubctl.unattended.systemd_units import UnitOptions, service_unit, timer_unit
from tests.test_terminal import run_on_terminal, screen
from tests.world import GlanceWorld, invoke

ROOT = Path(__file__).resolve().parent.parent
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
    assert str(world.stores["fast"]) in service and str(world.stores["legacy"]) in service
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
    assert process.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) >= 5
    for line in lines:
        assert line[:3] in ("<6>", "<4>", "<3>", "<7>"), line
        assert "\x1b[" not in line
    assert sum(1 for line in lines if line.startswith("<4>") and "blocked" in line) == 1
    assert "\x1b[" not in stdout


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
        assert unreachable[0].startswith("<3>scrubctl: unreachable: store archive: data directory "), stderr
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
    assert dry.exit_code == 1
    assert not log.exists() or log.read_text() == ""
    assert world.cli("scrub", "--yes", "--audit-log", str(log)).exit_code == 1
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
    world.image(urls=["file:///etc/hostname"], write_files=False)
    assert world.cli("scrub", "--yes", "--metrics-file", str(metrics)).exit_code == 1
    after = metrics.read_text()
    assert f"scrubctl_last_success_timestamp_seconds {success:.3f}".rstrip("0").rstrip(".") in after
    assert 'scrubctl_last_run_images{result="blocked"} 1' in after
    assert not list(tmp_path.glob(".scrubctl.prom.*"))


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
