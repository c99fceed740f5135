"""``scrubctl list-pending``: what is waiting, how old, how big, where the data is, what blocks it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.inventory import Selection
from scrubctl.views import DEFAULT_TABLE_COLUMNS, PENDING_COLUMNS, image_view


@click.command("list-pending")
@options.older_than
@click.option("--due", is_flag=True, help="Only images whose deleted_at + scrub_time has passed.")
@options.owner
@options.store
@options.limit
@options.output_options()
@click.pass_obj
def command(
    app: Application,
    older_than: datetime | None,
    due: bool,
    owner: str | None,
    store: str | None,
    limit: int | None,
    output_format: str,
    columns: tuple[str, ...],
) -> int:
    """List every pending_delete image (all visibilities) and every pending location of an active image."""
    selection = Selection(older_than=older_than, due_only=due, owner=owner, store=store, limit=limit)
    renderer = app.renderer(output_format, columns)
    inventory = app.inventory()
    with app.connection() as connection:

        def sections() -> Iterator[tuple[str, Iterator[dict[str, Any]]]]:
            for title, entries in inventory.pending_work(connection, selection):
                yield title, map(image_view, entries)

        renderer.listing(sections(), PENDING_COLUMNS, DEFAULT_TABLE_COLUMNS)
    return 0
