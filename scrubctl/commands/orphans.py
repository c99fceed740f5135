"""``scrubctl orphans``: data in the stores that no location row needs; ``--reclaim`` erases it."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_INCOMPLETE, EXIT_OK, BadInputError
from scrubctl.settings.utc import utc_now


@click.command(
    "orphans",
    short_help="Data no location row needs; --reclaim erases it.",
    epilog=options.examples(
        ("scrubctl orphans", "what every store holds that no row needs"),
        ("scrubctl orphans --store fast -f json", "one store's, as JSON"),
        ("scrubctl orphans --reclaim --older-than 30d --dry-run", "what a reclaim would erase; changes nothing"),
    ),
)
@click.option("--store", "store_name", default=None, help="Only this store (its name, or the driver in single-store).")
@click.option(
    "--older-than",
    type=options.AGE,
    default=None,
    help="Age threshold: data last written after this is never reclaimable (default 7d). 90s, 30m, 12h, 7d, "
    "2w, P7D, or a UTC timestamp.",
)
@click.option("--reclaim", is_flag=True, help="Erase the reclaimable orphans (plan first, asks on a terminal).")
@options.dry_run
@options.yes
@click.option("--max-delete", type=click.IntRange(min=0), default=None, help="Refuse to reclaim more pieces than this.")
@options.rbd_clones
@options.audit_log
@click.option(
    "--metrics-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="With --reclaim, write Prometheus metrics here (default: scrubctl-orphans.prom next to "
    "[scrubctl] metrics_file).",
)
@options.output_options()
@click.pass_obj
def command(
    app: Application,
    store_name: str | None,
    older_than: datetime | None,
    reclaim: bool,
    dry_run: bool,
    yes: bool,
    max_delete: int | None,
    rbd_clones: str,
    audit_log: Path | None,
    metrics_file: Path | None,
    output_format: str,
    columns: tuple[str, ...],
) -> int:
    """List the data of every store (and Glance's staging directories) that no location row
    needs: unreferenced, deleted_rows_only, partial_upload, trash, staging, and unlinked (an active image's
    data whose rows are gone: never reclaimable, see `scrubctl broken`). --reclaim erases the reclaimable
    ones, re-checked inside the database under the scrub claims right before each erase.

    Swift and S3 stores are listed too (a large object's lost segments: kind segments; incomplete S3
    uploads: multipart). Glance's image cache ([DEFAULT] image_cache_dir, store image_cache) is scanned
    per node: only the node this runs on, its files against its own cached_images rows (the node is its
    worker_self_reference_url); run it on every glance-api node (kind cache)."""
    from scrubctl.backends import DeleterPool
    from scrubctl.orphans import metrics as reclaim_metrics
    from scrubctl.orphans.model import DEFAULT_MIN_AGE
    from scrubctl.orphans.reclaim import ReclaimOptions, reclaim_orphans, reclaim_plan
    from scrubctl.orphans.rows import KeyMaker
    from scrubctl.orphans.scan import find_orphans
    from scrubctl.orphans.stores import stores_to_scan
    from scrubctl.output.reclaim import orphans_listing, reclaim_question, reclaim_report, reclaim_view

    if (dry_run or yes or max_delete is not None) and not reclaim:
        raise BadInputError("--dry-run, --yes and --max-delete go with --reclaim")
    if reclaim and output_format not in ("table", "json"):
        raise BadInputError("--reclaim prints table or json")
    now = utc_now()
    cutoff = older_than or now - DEFAULT_MIN_AGE
    renderer = app.renderer(output_format, columns)
    pool = DeleterPool(app.registry, {"rbd_clones": rbd_clones})
    try:
        stores, skipped = stores_to_scan(app.settings, pool, store_name)
        if store_name is not None and not stores and not skipped:
            raise BadInputError(f"no configured store is named {store_name!r}")
        keys = KeyMaker(app.settings, app.decoder())
        with app.connection(read_only=not reclaim or dry_run) as connection:
            scan = find_orphans(connection, keys, stores, skipped, cutoff=cutoff, now=now)
        for store in scan.not_scanned:
            renderer.warning(f"store {store.label} ({store.driver}) not scanned: {store.reason}")
        if not reclaim:
            orphans_listing(renderer, scan)
            return EXIT_ENVIRONMENT if any(store.unreachable for store in scan.stores) else EXIT_OK
        settings = app.settings
        choice = ReclaimOptions(
            dry_run=dry_run,
            max_delete=max_delete,
            encrypted_rows=settings.encryption_key is not None,
            claim_timeout=settings.claim_timeout,
        )
        plan = reclaim_plan(scan, max_delete)
        asking = any(orphan.reclaimable for orphan in plan) and not dry_run and not yes and renderer.can_prompt
        if asking and not renderer.confirm_shown(partial(reclaim_view, plan), reclaim_question(plan)):
            renderer.warning("nothing done")
            return EXIT_INCOMPLETE
        report = reclaim_orphans(app.database(read_only=dry_run), keys, scan, choice, audit=app.audit_trail(audit_log))
    finally:
        pool.close()
    with renderer.work_done():  # the work is done: a reader that has gone no longer changes the exit code
        reclaim_report(renderer, report)
    metrics_path = metrics_file or reclaim_metrics.default_path(app.settings.metrics_file)
    if metrics_path is not None:
        reclaim_metrics.publish(metrics_path, scan, report)
    return report.exit_code
