"""``scrubctl show ID``: one image in the scrub queue, in full."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.settings.utc import iso_utc

if TYPE_CHECKING:
    from scrubctl.glance.image_details import ImageDetails


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

    pool = DeleterPool(app.registry)
    try:
        with app.connection(read_only=True) as connection:
            details = image_details(connection, app.decoder(), image_id, app.settings.scrub_time)
            blockers = location_blockers(connection, app.decoder(), pool, details, app.settings)
    finally:
        pool.close()
    _render(app, output_format, details, blockers)
    return 0


def _render(app: Application, output_format: str, details: ImageDetails, blockers: dict[int, list[str]]) -> None:
    from scrubctl.output.views import human_age, human_size, location_view

    image = details.image
    properties = [_child(row, "name", "value") for row in details.properties]
    tags = [_child(row, "value") for row in details.tags]
    members = [_child(row, "member", "status") for row in details.members]
    document = {
        **{key: iso_utc(value) if key.endswith("_at") else value for key, value in image.items()},
        "age_seconds": None if details.age_seconds is None else int(details.age_seconds),
        "due": details.due,
        "locations": [
            {**location_view(location), "blockers": blockers.get(location.id, [])} for location in details.locations
        ],
        "properties": properties,
        "tags": tags,
        "members": members,
    }
    fields = [
        (key, value) for key, value in document.items() if key not in ("locations", "properties", "tags", "members")
    ]
    fields += [("size (human)", human_size(image["size"])), ("age (human)", human_age(details.age_seconds))]
    location_rows = [
        (
            location.id,
            location.status,
            location.store_label,
            location.scheme,
            location.shown_url,
            "; ".join(filter(None, [location.problem, *blockers.get(location.id, [])])) or "-",
        )
        for location in details.locations
    ]
    child_rows = [
        *(("property", row["name"], row["value"], row["deleted"], row["deleted_at"]) for row in properties),
        *(("tag", row["value"], "", row["deleted"], row["deleted_at"]) for row in tags),
        *(("member", row["member"], row["status"], row["deleted"], row["deleted_at"]) for row in members),
    ]
    app.renderer(output_format).details(
        f"Image {image['id']}",
        fields,
        [
            ("Locations", ("ID", "Status", "Store", "Scheme", "URL", "Blocked by"), location_rows),
            ("Properties, tags and members", ("Kind", "Name", "Value", "Deleted", "Deleted at"), child_rows),
        ],
        document,
    )


def _child(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {
        **{key: row[key] for key in keys},
        "deleted": bool(row["deleted"]),
        "deleted_at": iso_utc(row["deleted_at"]),
    }
