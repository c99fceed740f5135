"""The scrub's Prometheus metrics: what a run did and what is still pending, for node_exporter's
textfile collector (written by :mod:`scrubctl.unattended.metrics`).

``scrubctl_last_success_timestamp_seconds`` carries over from the previous file when this run did not
succeed (something failed, or a dry run, or an interrupted one); a run that only left images blocked
succeeded, and its blocked count is a sample of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, func, select, true

from scrubctl.engine.model import Report
from scrubctl.errors import EXIT_BLOCKED, EXIT_OK
from scrubctl.glance.schema import PENDING_DELETE, images
from scrubctl.settings.utc import utc_now
from scrubctl.unattended import metrics as textfile

LAST_SUCCESS = "scrubctl_last_success_timestamp_seconds"


@dataclass(frozen=True)
class QueueState:
    """The scrub queue after a run."""

    pending_images: int
    pending_bytes: int
    oldest_age_seconds: float


def queue_state(connection: Connection) -> QueueState:
    """Count what is still pending (one aggregate query)."""
    count, total, oldest = connection.execute(
        select(func.count(), func.coalesce(func.sum(images.c.size), 0), func.min(images.c.deleted_at)).where(
            images.c.deleted == true(), images.c.status == PENDING_DELETE
        )
    ).one()
    age = (utc_now() - oldest).total_seconds() if oldest is not None else 0.0
    return QueueState(int(count), int(total), max(age, 0.0))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.rstrip("Z")).replace(tzinfo=timezone.utc).timestamp()


def render_metrics(report: Report, queue: QueueState | None, previous_success: float | None, succeeded: bool) -> str:
    """The metrics text for one run (without the queue's gauges when ``queue`` is unknown)."""
    summary = report.summary
    started = _epoch(summary.started_at) if summary.started_at else 0.0
    last_success = started + summary.duration_seconds if succeeded else previous_success
    counts = {
        "scrubbed": summary.scrubbed,
        "would_scrub": summary.would_scrub,
        "blocked": summary.blocked,
        "failed": summary.failed,
        "taken_by_other_run": summary.taken_by_other_run,
    }
    sizes = dict.fromkeys(("scrubbed", "would_scrub", "blocked", "failed"), 0)
    for image in report.images:
        sizes[image.result.value] += image.bytes
    gauges: list[tuple[str, str, list[tuple[str, float]]]] = [
        (
            "scrubctl_last_run_images",
            "Images by result in the last run.",
            [(f'{{result="{name}"}}', float(value)) for name, value in counts.items()],
        ),
        (
            "scrubctl_last_run_bytes",
            "Bytes by result in the last run (erased, would be erased, or held by blocked and failed images).",
            [(f'{{result="{name}"}}', float(value)) for name, value in sizes.items()],
        ),
        ("scrubctl_last_run_dry_run", "1 when the last run was a dry run.", [("", float(summary.dry_run))]),
        *_queue_gauges(queue),
        (
            "scrubctl_last_run_start_timestamp_seconds",
            "When the last run started (Unix time).",
            [("", round(started, 3))],
        ),
        ("scrubctl_last_run_duration_seconds", "How long the last run took.", [("", summary.duration_seconds)]),
        (
            LAST_SUCCESS,
            "When a run last finished with nothing failed (Unix time; images left blocked do not count).",
            [("", round(last_success, 3))] if last_success is not None else [],
        ),
    ]
    lines = [
        line for name, help_text, samples in gauges for line in textfile.metric_lines(name, "gauge", help_text, samples)
    ]
    return "\n".join(lines) + "\n"


def _queue_gauges(queue: QueueState | None) -> list[tuple[str, str, list[tuple[str, float]]]]:
    """The pending queue's gauges (no sample when the queue is unknown)."""
    return [
        (
            "scrubctl_pending_images",
            "Images in pending_delete after the last run.",
            [("", float(queue.pending_images))] if queue else [],
        ),
        (
            "scrubctl_pending_bytes",
            "Bytes of images in pending_delete after the last run.",
            [("", float(queue.pending_bytes))] if queue else [],
        ),
        (
            "scrubctl_oldest_pending_age_seconds",
            "Age of the oldest pending_delete image.",
            [("", round(queue.oldest_age_seconds, 3))] if queue else [],
        ),
    ]


def publish(path: Path, report: Report, queue: QueueState | None) -> None:
    """Write the metrics file for ``report`` (atomically), keeping the last success time; ``queue``
    is ``None`` when the database could not tell it. Raise :class:`ConfigError` naming ``path`` when
    it cannot be written.

    A run whose only problems are blocked images (exit 4) succeeded: the blocked count has its own
    sample (``scrubctl_last_run_images{result="blocked"}``) to alert on."""
    succeeded = (
        report.exit_code in (EXIT_OK, EXIT_BLOCKED) and not report.summary.dry_run and not report.summary.interrupted
    )
    textfile.publish(path, render_metrics(report, queue, textfile.previous_sample(path, LAST_SUCCESS), succeeded))
