"""``scrubctl list-pending``: what is waiting, how old, how big, where the data is, what blocks it."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import ExitStack, closing
from datetime import datetime
from typing import Any

import click

from scrubctl import options
from scrubctl.app import Application


@click.command(
    "list-pending",
    short_help="List what waits to be scrubbed: age, size, what blocks it.",
    epilog=options.examples(
        ("scrubctl list-pending --due", "what the next scrub would take"),
        ("scrubctl list-pending --older-than 30d --store fast -f json", "a month's backlog of one store, as JSON"),
        ("scrubctl list-pending -f value -c id | head -5", "the ids of five pending images"),
    ),
)
@options.older_than
@click.option("--due", is_flag=True, help="Only images whose deleted_at + scrub_time has passed.")
@options.owner
@options.store
@options.limit
@click.option(
    "--check-backends",
    is_flag=True,
    help="Also ask the backends and the database what blocks each location: data shared with a live "
    "image, RBD clones and watchers, paths outside the store (slower: contacts every store).",
)
@options.output_options()
@click.pass_obj
def command(
    app: Application,
    older_than: datetime | None,
    due: bool,
    owner: str | None,
    store: str | None,
    limit: int | None,
    check_backends: bool,
    output_format: str,
    columns: tuple[str, ...],
) -> int:
    """List every pending_delete image (all visibilities) and every pending location of an active image."""
    from scrubctl.backends import DeleterPool
    from scrubctl.engine.blockers import with_backend_checks
    from scrubctl.glance.pending import Selection
    from scrubctl.output.views import DEFAULT_TABLE_COLUMNS, PENDING_COLUMNS, image_view

    store = app.settings.known_store(store)
    selection = Selection(older_than=older_than, due_only=due, owner=owner, store=store, limit=limit)
    renderer = app.renderer(output_format, columns)
    queue, decoder = app.pending_queue(), app.decoder()
    pool = DeleterPool(app.registry)
    with ExitStack() as stack:
        connection = stack.enter_context(app.connection(read_only=True))
        stack.callback(pool.close)
        checks = stack.enter_context(app.connection(read_only=True)) if check_backends else None

        def sections() -> Generator[tuple[str, Iterator[dict[str, Any]]], None, None]:
            with closing(queue.pending_work(connection, selection)) as work:
                for title, entries in work:
                    if checks is not None:
                        entries = with_backend_checks(
                            checks, decoder, pool, entries, encrypted_rows=app.settings.encryption_key is not None
                        )
                    yield title, map(image_view, entries)

        # Closed before the connections (an exit stack unwinds in reverse): a reader that stops early
        # (``| head``) leaves no streamed query open on a closed connection.
        listing = stack.enter_context(closing(sections()))
        renderer.listing(listing, PENDING_COLUMNS, DEFAULT_TABLE_COLUMNS)
    return 0
