"""What ``scrubctl restore`` prints: each image's result, what could not be restored with it, and
the summary."""

from __future__ import annotations

from typing import Any

from scrubctl.output.renderer import Renderer
from scrubctl.restore import RestoreReport


def restore_report(renderer: Renderer, report: RestoreReport) -> None:
    """Write a restore's results: the summary's fields, a table of images and one of what could not be
    restored, or the JSON document."""
    summary = report.summary()
    fields: list[tuple[str, Any]] = [("dry run", "yes: nothing changed")] if report.dry_run else []
    fields += [(key, value) for key, value in summary.items() if key not in ("unreachable", "notes", "dry_run")]
    fields += [("unreachable", problem) for problem in report.unreachable]
    fields += [("note", note) for note in report.notes]
    image_rows = [
        (
            image.id,
            image.result.value,
            image.locations_restored,
            image.properties_restored,
            image.tags_restored,
            image.members_restored,
            image.reason or "-",
        )
        for image in report.images
    ]
    lost_rows = [
        (image.id, item.kind, item.name, item.reason) for image in report.images for item in image.not_restorable
    ]
    tables: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = [
        ("Images", ("ID", "Result", "Locations", "Properties", "Tags", "Members", "Reason"), image_rows)
    ]
    if lost_rows:
        tables.append(("Not restored", ("Image", "Kind", "Name", "Why"), lost_rows))
    renderer.details("Restore", fields, tables, report.as_dict())
