"""``scrubctl scrub``: erase the data of pending images, then mark them deleted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.errors import EXIT_INCOMPLETE
from scrubctl.unattended.logs import DEFAULT_PROGRESS_INTERVAL


@click.command(
    "scrub",
    short_help="Erase the data of due pending images, then mark them deleted.",
    epilog=options.examples(
        ("scrubctl scrub --dry-run", "what a scrub would do; changes nothing"),
        ("scrubctl scrub --older-than 7d --max-delete 500", "deleted over a week ago; refuse more than 500"),
        (f"scrubctl scrub --image {options.EXAMPLE_ID} --yes", "exactly this image, without asking"),
    ),
)
@options.older_than
@click.option(
    "--image", "image_ids", multiple=True, type=options.IMAGE_ID, help="Scrub exactly this image (repeatable)."
)
@options.owner
@options.store
@options.limit
@click.option(
    "--max-delete",
    type=click.IntRange(min=0),
    default=None,
    help="Refuse to start when the plan would erase the data of more images (blocked ones not counted).",
)
@options.dry_run
@options.yes
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Images erased in parallel."
)
@options.rbd_clones
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=1, max=86400),
    default=DEFAULT_PROGRESS_INTERVAL,
    show_default=True,
    metavar="SECONDS",
    help="Off a terminal, log a line this often for each erase still running (RBD objects, Swift segments done).",
)
@options.audit_log
@click.option(
    "--metrics-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write Prometheus metrics here for node_exporter's textfile collector (default: [scrubctl] metrics_file).",
)
@options.output_options(formats=("table", "json"), columns=False)
@click.pass_obj
def command(
    app: Application,
    older_than: datetime | None,
    image_ids: tuple[str, ...],
    owner: str | None,
    store: str | None,
    limit: int | None,
    max_delete: int | None,
    dry_run: bool,
    yes: bool,
    concurrency: int,
    rbd_clones: str,
    progress_interval: float,
    audit_log: Path | None,
    metrics_file: Path | None,
    output_format: str,
) -> int:
    """Erase the data of due pending_delete images (deleted_at + scrub_time has passed), then mark them
    deleted. --older-than replaces the due rule; --image takes exactly the images named."""
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.model import RunOptions
    from scrubctl.engine.planner import ScrubSelection, build_plan
    from scrubctl.engine.runner import ScrubRunner
    from scrubctl.unattended import metrics
    from scrubctl.unattended.signals import stop_on_signals

    selection = ScrubSelection(older_than, image_ids, owner, app.settings.known_store(store), limit, max_delete)
    renderer = app.renderer(output_format)
    database = app.database(pool_size=concurrency + 1, read_only=dry_run)
    with database.connect() as connection:
        plan = build_plan(
            connection,
            app.pending_queue(),
            app.decoder(),
            selection,
            check_encrypted_sharing=app.settings.encryption_key is not None,
        )
    renderer.plan_summary(plan, dry_run)
    audit = app.audit_trail(audit_log)  # every output checked before anything is erased
    metrics_path = app.metrics_file(metrics_file)
    if metrics_path is not None:
        metrics.check_writable(metrics_path)
    asking = plan.erases_anything and not dry_run and not yes and renderer.can_prompt
    if asking and not renderer.confirm_plan(plan):
        renderer.warning("nothing done")
        return EXIT_INCOMPLETE
    deleters = DeleterPool(app.registry, {"rbd_clones": rbd_clones})
    try:
        with stop_on_signals() as stop, renderer.scrub_progress(plan, dry_run, progress_interval) as progress:
            runner = ScrubRunner(
                database,
                deleters,
                observer=progress,
                audit=audit,
                stop=stop.event,
                claim_timeout=app.settings.claim_timeout,
            )
            report = runner.run(plan, RunOptions(dry_run=dry_run, concurrency=concurrency))
    finally:
        deleters.close()
    renderer.scrub_report(report)
    if metrics_path is not None:
        queue = None
        if database.outage is None:  # else the run has said so, and the queue is unknown
            with database.connect() as connection:
                queue = metrics.queue_state(connection)
        metrics.publish(metrics_path, report, queue)
    return stop.exit_code or report.exit_code
