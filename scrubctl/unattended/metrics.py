"""Prometheus metrics for node_exporter's textfile collector, written atomically.

The file is written to a temporary name in the same directory and renamed over the old one, so
the collector never reads half a file. ``scrubctl_last_success_timestamp_seconds`` carries over from
the previous file when this run did not succeed (something failed, or a dry run, or an interrupted
one); a run that only left images blocked succeeded, and its blocked count is a sample of its own.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, func, select, true

from scrubctl.engine.model import Report
from scrubctl.errors import EXIT_BLOCKED, EXIT_OK, ConfigError, read_only_message
from scrubctl.glance.schema import PENDING_DELETE, images
from scrubctl.settings.utc import utc_now

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


def _number(value: float) -> str:
    """Prometheus sample text: integral values without exponent, others in full precision."""
    return str(int(value)) if value == int(value) else repr(value)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.rstrip("Z")).replace(tzinfo=timezone.utc).timestamp()


# One metric: its name, help text and samples (labels, value); every one is a gauge.
Family = tuple[str, str, list[tuple[str, float]]]


def render_metrics(report: Report, queue: QueueState | None, previous_success: float | None, succeeded: bool) -> str:
    """The metrics text for one run (without the queue's gauges when ``queue`` is unknown)."""
    summary = report.summary
    started = _epoch(summary.started_at) if summary.started_at else 0.0
    last_success = started + summary.duration_seconds if succeeded else previous_success
    families = [*_run_families(report), *_queue_families(queue)]
    families += [
        (
            "scrubctl_last_run_start_timestamp_seconds",
            "When the last run started (Unix time).",
            [("", round(started, 3))],
        ),
        ("scrubctl_last_run_duration_seconds", "How long the last run took.", [("", summary.duration_seconds)]),
    ]
    if last_success is not None:
        help_text = "When a run last finished with nothing failed (Unix time; images left blocked do not count)."
        families.append((LAST_SUCCESS, help_text, [("", round(last_success, 3))]))
    lines: list[str] = []
    for name, help_text, samples in families:
        if samples:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)
    return "\n".join(lines) + "\n"


def _run_families(report: Report) -> list[Family]:
    """The images and bytes of the last run by result, and whether it was a dry run."""
    summary = report.summary
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
    return [
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
    ]


def _queue_families(queue: QueueState | None) -> list[Family]:
    """The queue's gauges after the run (no samples when it is unknown)."""
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


def previous_success(path: Path) -> float | None:
    """The last-success timestamp of an earlier metrics file, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(rf"^{LAST_SUCCESS} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def check_writable(path: Path) -> None:
    """Raise :class:`ConfigError` unless a metrics file can be written at ``path`` (checked before a
    run changes anything: a temporary file is made in its directory and removed)."""
    if not path.parent.is_dir():
        raise ConfigError(f"metrics file {path} cannot be written: directory {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"metrics file {path} cannot be written: it is a directory")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        if error.errno == errno.EROFS:
            raise ConfigError(read_only_message(f"the directory of the metrics file {path}")) from None
        raise ConfigError(f"metrics file {path} cannot be written: {error.strerror}") from None
    os.close(descriptor)
    os.unlink(temporary)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def publish(path: Path, report: Report, queue: QueueState | None) -> None:
    """Write the metrics file for ``report`` (atomically), keeping the last success time; ``queue``
    is ``None`` when the database could not tell it. Raise :class:`ConfigError` naming ``path`` when
    it cannot be written.

    A run whose only problems are blocked images (exit 4) succeeded: the blocked count has its own
    sample (``scrubctl_last_run_images{result="blocked"}``) to alert on."""
    succeeded = (
        report.exit_code in (EXIT_OK, EXIT_BLOCKED) and not report.summary.dry_run and not report.summary.interrupted
    )
    try:
        write_atomically(path, render_metrics(report, queue, previous_success(path), succeeded))
    except OSError as error:
        if error.errno == errno.EROFS:
            raise ConfigError(read_only_message(f"the directory of the metrics file {path}")) from None
        raise ConfigError(f"metrics file {path} not written: {error.strerror or error}") from None
