"""``scrubctl restore ID [ID...]``: bring pending_delete images back whole, data verified first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scrubctl import options
from scrubctl.app import Application

if TYPE_CHECKING:
    from scrubctl.output.renderer import Renderer
    from scrubctl.restore import RestoreReport


@click.command(
    "restore",
    short_help="Bring pending_delete images back as working active images.",
    epilog=options.examples(
        (f"scrubctl restore {options.EXAMPLE_ID} --dry-run", "whether it can come back; changes nothing"),
        (f"scrubctl restore {options.EXAMPLE_ID} 9b2d7e40-1c3f-4a8b-b5d6-0e7f8a9b1c2d", "bring two images back"),
        (
            f"scrubctl restore {options.EXAMPLE_ID} --audit-log /var/log/scrubctl/audit.jsonl",
            "and record every change",
        ),
    ),
)
@click.argument("image_ids", metavar="ID...", nargs=-1, required=True, type=options.IMAGE_ID)
@options.dry_run
@options.audit_log
@options.output_options(formats=("table", "json"), columns=False)
@click.pass_obj
def command(
    app: Application, image_ids: tuple[str, ...], dry_run: bool, audit_log: Path | None, output_format: str
) -> int:
    """Restore pending_delete images: the image, its locations, and the properties, tags and members
    deleted with it. Refused (and nothing changed) when any location's data is gone from its store.
    Exit 0 all restored, 1 any refused, 3 a store or the database unreachable."""
    from scrubctl.backends import DeleterPool
    from scrubctl.restore import RestoreTools, restore_images

    audit = app.audit_trail(audit_log)
    deleters = DeleterPool(app.registry)
    try:
        with app.connection(read_only=dry_run) as connection:
            tools = RestoreTools(
                decoder=app.decoder(),
                deleters=deleters,
                audit=audit,
                check_encrypted_sharing=app.settings.encryption_key is not None,
                claim_timeout=app.settings.claim_timeout,
            )
            report = restore_images(connection, tools, image_ids, dry_run=dry_run)
    finally:
        deleters.close()
    renderer = app.renderer(output_format)
    with renderer.work_done():  # the work is done: a reader that has gone no longer changes the exit code
        _render(renderer, report)
    return report.exit_code


def _render(renderer: Renderer, report: RestoreReport) -> None:
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
