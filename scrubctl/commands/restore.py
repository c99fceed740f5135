"""``scrubctl restore ID [ID...]``: bring pending_delete images back whole, data verified first."""

from __future__ import annotations

from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application


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
    from scrubctl.output.restore import restore_report
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
        restore_report(renderer, report)
    return report.exit_code
