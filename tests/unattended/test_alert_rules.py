"""The Prometheus alert rules in contrib/prometheus: valid, each alert tested with ``promtool test
rules``, and every metric they read is one scrubctl really writes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REQUIRED_TIERS
from tests.support.world import invoke

RULES_DIRECTORY = Path(__file__).resolve().parents[2] / "contrib" / "prometheus"
RULES = RULES_DIRECTORY / "scrubctl.rules.yml"


def promtool() -> str:
    """promtool, from Debian's prometheus package (scripts/test installs it)."""
    path = shutil.which("promtool")
    if path is None:
        if REQUIRED_TIERS:
            pytest.fail("promtool is missing (Debian's prometheus package; scripts/test installs it)")
        pytest.skip("promtool is missing (apt-get install prometheus)")
    return path


def run_promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *arguments], cwd=RULES_DIRECTORY, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_rules_are_valid() -> None:
    result = run_promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    result = run_promtool("test", "rules", "scrubctl.rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (RULES_DIRECTORY / "scrubctl.rules.test.yml").read_text()))
    assert tested == set(re.findall(r"- alert: (\w+)", RULES.read_text()))


def test_the_rules_read_only_metrics_scrubctl_writes(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    assert invoke(["sandbox", str(sandbox)]).exit_code == 0
    config = ["--config-file", str(sandbox / "glance-api.conf")]
    scrub_metrics, orphans_metrics = tmp_path / "scrub.prom", tmp_path / "orphans.prom"
    planned = invoke([*config, "scrub", "--dry-run", "-f", "json"])
    free = next(image["id"] for image in json.loads(planned.stdout)["images"] if image["result"] == "would_scrub")
    # A run that succeeds writes every metric, the last success's time included.
    scrubbed = invoke([*config, "scrub", "--yes", "--image", free, "--metrics-file", str(scrub_metrics)])
    assert scrubbed.exit_code == 0, scrubbed.stderr
    invoke([*config, "orphans", "--reclaim", "--dry-run", "--metrics-file", str(orphans_metrics)])
    written = set(re.findall(r"^# TYPE (\w+) ", scrub_metrics.read_text() + orphans_metrics.read_text(), re.MULTILINE))
    read = set(re.findall(r"\bscrubctl_\w+", RULES.read_text()))
    assert read, "the rules read no scrubctl metric"
    assert read <= written, f"metrics the rules read but scrubctl never writes: {sorted(read - written)}"
