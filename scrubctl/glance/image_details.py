"""One image in full, for ``scrubctl show``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from scrubctl.errors import NotFoundError
from scrubctl.glance import schema
from scrubctl.glance.locations import Location, LocationDecoder
from scrubctl.glance.pending import due_cutoff
from scrubctl.glance.schema import PENDING_DELETE
from scrubctl.settings.utc import utc_now


@dataclass(frozen=True)
class ImageDetails:
    """An image row, every location decoded, and its properties, tags and members."""

    image: dict[str, Any]
    locations: tuple[Location, ...]
    properties: tuple[dict[str, Any], ...]
    tags: tuple[dict[str, Any], ...]
    members: tuple[dict[str, Any], ...]
    due: bool
    age_seconds: float | None

    @property
    def pending_locations(self) -> tuple[Location, ...]:
        """The locations waiting to be erased."""
        return tuple(location for location in self.locations if location.status == PENDING_DELETE)


def load_image(connection: Connection, image_id: str) -> dict[str, Any] | None:
    """Return every column of one image row, or ``None``."""
    row = connection.execute(select(schema.images).where(schema.images.c.id == image_id)).mappings().first()
    return dict(row) if row is not None else None


def image_details(connection: Connection, decoder: LocationDecoder, image_id: str, scrub_time: int) -> ImageDetails:
    """Read one image that is in the scrub queue (pending itself, or with pending locations).

    Raises :class:`NotFoundError` for an unknown id or an image with nothing pending.
    """
    image = load_image(connection, image_id)
    if image is None:
        raise NotFoundError(f"no image {image_id} in the database")
    location_rows = connection.execute(
        select(schema.image_locations)
        .where(schema.image_locations.c.image_id == image_id)
        .order_by(schema.image_locations.c.id)
    ).mappings()
    locations = tuple(decoder.decode_row(row, image_id) for row in location_rows)
    if image["status"] != PENDING_DELETE and not any(location.status == PENDING_DELETE for location in locations):
        raise NotFoundError(
            f"image {image_id} is {image['status']}, not pending_delete, and has no pending location: "
            "it is not in the scrub queue"
        )
    now = utc_now()
    since = (  # the rule of the pending queue: a pending image without deleted_at is never due
        image["deleted_at"]
        if image["status"] == PENDING_DELETE
        else min(
            (
                location.deleted_at
                for location in locations
                if location.status == PENDING_DELETE and location.deleted_at
            ),
            default=None,
        )
    )
    return ImageDetails(
        image=image,
        locations=locations,
        properties=_children(connection, schema.image_properties, image_id),
        tags=_children(connection, schema.image_tags, image_id),
        members=_children(connection, schema.image_members, image_id),
        due=since is not None and since <= due_cutoff(now, scrub_time),
        age_seconds=(now - since).total_seconds() if since is not None else None,
    )


def _children(connection: Connection, table: Any, image_id: str) -> tuple[dict[str, Any], ...]:
    rows = connection.execute(select(table).where(table.c.image_id == image_id).order_by(table.c.id)).mappings()
    return tuple(dict(row) for row in rows)
