"""Prometheus metrics of ``orphans --reclaim`` for node_exporter's textfile collector.

Written atomically to a file of their own (``--metrics-file``, by default ``scrubctl-orphans.prom``
next to ``[scrubctl] metrics_file``), so that a reclaim never overwrites the scrub's metrics.
"""

from __future__ import annotations

import time
from pathlib import Path

from scrubctl.orphans.model import KINDS, OrphanScan
from scrubctl.orphans.reclaim import ReclaimReport, ReclaimResult
from scrubctl.unattended.metrics import write_atomically

DEFAULT_NAME = "scrubctl-orphans.prom"


def default_path(scrub_metrics: Path | None) -> Path | None:
    """``scrubctl-orphans.prom`` in the folder of the scrub's metrics file, when one is configured."""
    return scrub_metrics.with_name(DEFAULT_NAME) if scrub_metrics is not None else None


def render(scan: OrphanScan, report: ReclaimReport) -> str:
    """The metrics text of one reclaim run."""
    lines = [
        "# HELP scrubctl_orphans_found Orphan pieces found by the scan, by kind.",
        "# TYPE scrubctl_orphans_found gauge",
    ]
    for kind in KINDS:
        count = sum(1 for orphan in scan.orphans if orphan.kind == kind)
        lines.append(f'scrubctl_orphans_found{{kind="{kind}"}} {count}')
    lines += [
        "# HELP scrubctl_orphans_found_bytes Bytes of the orphans found, by kind.",
        "# TYPE scrubctl_orphans_found_bytes gauge",
    ]
    for kind in KINDS:
        size = sum(orphan.bytes or 0 for orphan in scan.orphans if orphan.kind == kind)
        lines.append(f'scrubctl_orphans_found_bytes{{kind="{kind}"}} {size}')
    lines += [
        "# HELP scrubctl_orphans_last_run_pieces Pieces of the last reclaim run, by result.",
        "# TYPE scrubctl_orphans_last_run_pieces gauge",
    ]
    for result in ReclaimResult:
        lines.append(f'scrubctl_orphans_last_run_pieces{{result="{result.value}"}} {report.count(result)}')
    lines += [
        "# HELP scrubctl_orphans_last_run_bytes Bytes of the last reclaim run, by result.",
        "# TYPE scrubctl_orphans_last_run_bytes gauge",
    ]
    for result in ReclaimResult:
        lines.append(f'scrubctl_orphans_last_run_bytes{{result="{result.value}"}} {report.bytes_of(result)}')
    lines += [
        "# TYPE scrubctl_orphans_last_run_timestamp_seconds gauge",
        f"scrubctl_orphans_last_run_timestamp_seconds {int(time.time())}",
        "# TYPE scrubctl_orphans_last_run_duration_seconds gauge",
        f"scrubctl_orphans_last_run_duration_seconds {report.duration_seconds:.3f}",
        "# TYPE scrubctl_orphans_last_run_dry_run gauge",
        f"scrubctl_orphans_last_run_dry_run {int(report.dry_run)}",
    ]
    return "\n".join(lines) + "\n"


def publish(path: Path, scan: OrphanScan, report: ReclaimReport) -> None:
    """Write the metrics file (atomically)."""
    write_atomically(path, render(scan, report))
