"""``scrubctl broken``: images whose rows say usable but whose locations or data disagree; ``--repair``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.errors import EXIT_INCOMPLETE, BadInputError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from scrubctl.backends import DeleterPool
    from scrubctl.broken.model import BrokenImage
    from scrubctl.broken.repair import RepairReport
    from scrubctl.output.renderer import Renderer


@click.command(
    "broken",
    short_help="Images whose rows or data are wrong; --repair fixes them.",
    epilog=options.examples(
        ("scrubctl broken", "every active or deactivated image whose rows or data are wrong"),
        ("scrubctl broken --repair --dry-run", "what --repair would change; changes nothing"),
        (f"scrubctl broken --repair {options.EXAMPLE_ID}", "make this image whole"),
    ),
)
@click.argument("image_ids", metavar="[ID...]", nargs=-1, type=options.IMAGE_ID)
@click.option("--repair", is_flag=True, help="Make repairable images whole (all of them, or the IDs given).")
@options.dry_run
@options.yes
@options.audit_log
@options.output_options()
@click.pass_obj
def command(
    app: Application,
    image_ids: tuple[str, ...],
    repair: bool,
    dry_run: bool,
    yes: bool,
    audit_log: Path | None,
    output_format: str,
    columns: tuple[str, ...],
) -> int:
    """List active and deactivated images whose rows or data are wrong: restored_without_locations (what
    glance-scrubber --restore leaves), unlinked, data_missing, deleted_at_set. --repair makes the repairable
    ones whole the way restore does, data verified first; data_missing is reported, never repaired."""
    from scrubctl.backends import DeleterPool
    from scrubctl.broken.scan import BrokenFinder
    from scrubctl.orphans.rows import KeyMaker
    from scrubctl.orphans.scan import list_stores
    from scrubctl.orphans.stores import stores_to_scan
    from scrubctl.output.broken import broken_listing, repair_report
    from scrubctl.output.orphans import not_scanned_warnings

    if (dry_run or yes or image_ids) and not repair:
        raise BadInputError("IDs, --dry-run and --yes go with --repair")
    if repair and output_format not in ("table", "json"):
        raise BadInputError("--repair prints table or json")
    renderer = app.renderer(output_format, columns)
    pool = DeleterPool(app.registry)
    report: RepairReport | None = None
    try:
        stores, skipped = stores_to_scan(app.settings, pool, None, with_cache=False)
        listed, scans = list_stores(stores)
        not_scanned_warnings(renderer, [*skipped, *scans])
        finder = BrokenFinder(KeyMaker(app.settings, app.decoder()), app.decoder(), stores, listed)
        with app.connection(read_only=not repair or dry_run) as connection:
            found = list(finder.find(connection))
            if repair:
                connection.rollback()  # the scan's read transaction; each repair runs its own
                report = _repair(app, renderer, pool, connection, found, image_ids, dry_run, yes, audit_log)
                if report is None:
                    renderer.warning("nothing done")
                    return EXIT_INCOMPLETE
    finally:
        pool.close()
    if report is None:
        broken_listing(renderer, found)
        return 0
    with renderer.work_done():  # the work is done: a reader that has gone no longer changes the exit code
        repair_report(renderer, report)
    return report.exit_code


def _repair(
    app: Application,
    renderer: Renderer,
    pool: DeleterPool,
    connection: Connection,
    found: list[BrokenImage],
    image_ids: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    audit_log: Path | None,
) -> RepairReport | None:
    """Repair the images chosen among those found, once a person on a terminal has said yes to what is
    shown (``None`` when they did not)."""
    from scrubctl.broken.repair import repair_images, repair_selection
    from scrubctl.output.broken import repair_question, repair_view, repairable_count
    from scrubctl.restore import RestoreTools

    chosen = repair_selection(found, image_ids)
    asking = repairable_count(chosen) > 0 and not dry_run and not yes and renderer.can_prompt
    if asking and not renderer.confirm_shown(partial(repair_view, chosen), repair_question(chosen)):
        return None
    tools = RestoreTools(
        decoder=app.decoder(),
        deleters=pool,
        audit=app.audit_trail(audit_log),
        check_encrypted_sharing=app.settings.encryption_key is not None,
        claim_timeout=app.settings.claim_timeout,
    )
    encryption_key = app.settings.encryption_key.reveal() if app.settings.encryption_key else None
    return repair_images(connection, tools, found, image_ids, dry_run=dry_run, encryption_key=encryption_key)
