"""``scrubctl broken``: images whose rows say usable but whose locations or data disagree; ``--repair``."""

from __future__ import annotations

from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.backends import DeleterPool
from scrubctl.broken.repair import RepairReport, repair_images
from scrubctl.broken.scan import BrokenFinder
from scrubctl.errors import BadInputError
from scrubctl.orphans.rows import KeyMaker
from scrubctl.orphans.scan import list_stores
from scrubctl.orphans.stores import stores_to_scan
from scrubctl.output.orphan_views import BROKEN_COLUMNS, BROKEN_TABLE_COLUMNS
from scrubctl.output.renderer import Renderer, plain_table, select_columns
from scrubctl.restore import RestoreTools


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
@options.audit_log
@options.output_options()
@click.pass_obj
def command(
    app: Application,
    image_ids: tuple[str, ...],
    repair: bool,
    dry_run: bool,
    audit_log: Path | None,
    output_format: str,
    columns: tuple[str, ...],
) -> int:
    """List active and deactivated images whose rows or data are wrong: restored_without_locations (what
    glance-scrubber --restore leaves), unlinked, data_missing, deleted_at_set. --repair makes the repairable
    ones whole the way restore does, data verified first; data_missing is reported, never repaired."""
    if (dry_run or image_ids) and not repair:
        raise BadInputError("IDs and --dry-run go with --repair")
    if repair and output_format not in ("table", "json"):
        raise BadInputError("--repair prints table or json")
    renderer = app.renderer(output_format, columns)
    pool = DeleterPool(app.registry)
    try:
        stores, skipped = stores_to_scan(app.settings, pool, None)
        listed, scans = list_stores([store for store in stores if store.inventory.scope()])
        for store in [*skipped, *scans]:
            if not store.scanned:
                renderer.warning(f"store {store.label} ({store.driver}) not scanned: {store.reason}")
        finder = BrokenFinder(KeyMaker(app.settings, app.decoder()), app.decoder(), stores, listed)
        with app.connection(read_only=not repair or dry_run) as connection:
            if not repair:
                views = [broken.as_dict() for broken in finder.find(connection)]
            else:
                found = list(finder.find(connection))
                connection.rollback()  # the scan's read transaction; each repair runs its own
                tools = RestoreTools(
                    decoder=app.decoder(),
                    deleters=pool,
                    audit=app.audit_trail(audit_log),
                    check_encrypted_sharing=app.settings.encryption_key is not None,
                    claim_timeout=app.settings.claim_timeout,
                )
                encryption_key = app.settings.encryption_key.reveal() if app.settings.encryption_key else None
                report = repair_images(
                    connection, tools, found, image_ids, dry_run=dry_run, encryption_key=encryption_key
                )
    finally:
        pool.close()
    if repair:
        with renderer.work_done():  # the work is done: a reader that has gone no longer changes the exit code
            _render_repair(renderer, report)
        return report.exit_code
    _render_listing(renderer, views)
    return 0


def _render_listing(renderer: Renderer, views: list[dict[str, object]]) -> None:
    if renderer.output_format != "table":
        renderer.listing([("Broken images", iter(views))], BROKEN_COLUMNS, BROKEN_TABLE_COLUMNS)
        return
    chosen = select_columns(BROKEN_COLUMNS, renderer.wanted_columns, BROKEN_TABLE_COLUMNS)
    rows = [[column.human(view) for column in chosen] for view in views]
    plain_table(renderer, "Broken images", [column.header for column in chosen], rows)


def _render_repair(renderer: Renderer, report: RepairReport) -> None:
    document = report.as_dict()
    if renderer.output_format == "json":
        renderer.details("Repair", [], [], document)
        return
    rows = [
        (
            item["id"],
            item["problem"],
            item["result"],
            item["locations_restored"],
            item["locations_linked"],
            item["reason"],
        )
        for item in document["images"]
    ]
    plain_table(renderer, "Repair", ["ID", "Problem", "Result", "Locations", "Linked", "Reason"], rows)
    renderer.message("Summary: " + ", ".join(f"{key} {value}" for key, value in document["summary"].items()))
