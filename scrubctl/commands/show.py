"""``scrubctl show ID``: one image in the scrub queue, in full."""

from __future__ import annotations

import click

from scrubctl import options
from scrubctl.app import Application


@click.command(
    "show",
    short_help="Show one queued image in full, and what blocks it.",
    epilog=options.examples(
        (f"scrubctl show {options.EXAMPLE_ID}", "the image, its locations, properties, tags, members"),
        (f"scrubctl show {options.EXAMPLE_ID} -f json", "the same as one JSON object"),
    ),
)
@click.argument("image_id", type=options.IMAGE_ID)
@options.output_options(formats=("table", "json", "value"), columns=False)
@click.pass_obj
def command(app: Application, image_id: str, output_format: str) -> int:
    """Show one image of the scrub queue: every column, every location with its store and scheme,
    and what blocks it (shared data, backend dependencies)."""
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.blockers import location_blockers
    from scrubctl.glance.image_details import image_details
    from scrubctl.output.show import show_image

    pool = DeleterPool(app.registry)
    try:
        with app.connection(read_only=True) as connection:
            details = image_details(connection, app.decoder(), image_id, app.settings.scrub_time)
            blockers = location_blockers(connection, app.decoder(), pool, details, app.settings)
    finally:
        pool.close()
    show_image(app.renderer(output_format), details, blockers)
    return 0
