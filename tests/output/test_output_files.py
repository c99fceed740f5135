"""The files a scrub writes besides the database: the metrics file and the audit log, checked before
anything is erased, and their failures one line each (never a traceback or "unexpected error")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from scrubctl.engine import metrics
from scrubctl.engine.model import Report, Summary
from scrubctl.errors import ConfigError
from scrubctl.unattended.audit import AuditLogError, JsonLinesAudit
from scrubctl.unattended.metrics import check_writable
from tests.support.world import GlanceWorld


def test_a_metrics_file_in_a_missing_directory_is_refused_before_anything_is_erased(
    world: GlanceWorld, tmp_path: Path
) -> None:
    image = world.image()
    wanted = tmp_path / "missing" / "scrubctl.prom"
    result = world.cli("scrub", "--yes", "--metrics-file", str(wanted))
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("scrubctl: error:")]
    assert errors == [
        f"scrubctl: error: metrics file {wanted} cannot be written: directory {wanted.parent} does not exist"
    ]
    assert world.data_file(image).exists()
    assert world.status(image) == "pending_delete"


def test_a_metrics_file_not_written_at_the_end_is_named_as_the_user_gave_it(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    wanted = directory / "scrubctl.prom"
    check_writable(wanted)  # fine when the run starts ...
    directory.rmdir()  # ... gone by the time it ends
    with pytest.raises(ConfigError) as raised:
        metrics.publish(wanted, Report(Summary(dry_run=False)), metrics.QueueState(0, 0, 0.0))
    assert str(raised.value) == f"metrics file {wanted} not written: No such file or directory"


def test_an_audit_log_that_cannot_be_written_is_one_line_and_nothing_is_erased(world: GlanceWorld) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    images = [world.image(), world.image(stores=["fast", "archive"])]
    result = world.cli("scrub", "--yes", "-f", "json", "--audit-log", "/dev/full")
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    # One line says why; each image's own line (failed: an error too) gives it as its reason.
    said = [line for line in result.stderr.splitlines() if line.startswith("<3>") and not line.startswith("<3>image ")]
    assert said == [
        "<3>audit log /dev/full cannot be written: No space left on device; nothing is erased or "
        "recorded without its audit line"
    ]
    document = json.loads(result.stdout)
    assert document["summary"]["unreachable"] == ["audit log /dev/full cannot be written: No space left on device"]
    assert {item["result"] for item in document["images"]} == {"failed"}
    assert all(world.data_file(image).exists() for image in images)
    assert {world.status(image) for image in images} == {"pending_delete"}


def test_an_erase_whose_outcome_cannot_be_audited_is_not_recorded(world: GlanceWorld, tmp_path: Path) -> None:
    """The disk holding the audit log fills between an erase's two lines: the data is gone, but the
    row is not marked without its record; the next run finds it already gone and records it."""
    from scrubctl.app import Application
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.model import RunOptions
    from scrubctl.engine.planner import ScrubSelection, build_plan
    from scrubctl.engine.runner import ScrubRunner

    class FillsUpAfterTheStart(JsonLinesAudit):
        def record(self, action: str, fields: Mapping[str, Any]) -> None:
            if fields.get("result") != "started":
                raise AuditLogError(f"audit log {self.path} cannot be written: No space left on device")
            super().record(action, fields)

    image = world.image()
    log = tmp_path / "audit.jsonl"
    app = Application(config_files=(world.config_file,))
    with app.database().connect() as connection:
        plan = build_plan(
            connection, app.pending_queue(), app.decoder(), ScrubSelection(), check_encrypted_sharing=False
        )
    audit = FillsUpAfterTheStart(log)
    try:
        report = ScrubRunner(app.database(), DeleterPool(app.registry), audit=audit).run(
            plan, RunOptions(dry_run=False)
        )
    finally:
        audit.close()
        app.close()
    assert report.exit_code == 3
    [result] = report.images
    assert result.result.value == "failed"
    assert "erased, but not recorded: audit log" in result.reason
    assert not world.data_file(image).exists()
    assert world.status(image) == "pending_delete"
    assert world.location_statuses(image) == ["pending_delete"]
    assert [json.loads(line)["result"] for line in log.read_text().splitlines()] == ["started"]
    rerun = world.cli("scrub", "--yes", "-f", "json", "--audit-log", str(log))
    assert rerun.exit_code == 0
    assert json.loads(rerun.stdout)["images"][0]["reason"] == "already gone"
    assert world.status(image) == "deleted"
