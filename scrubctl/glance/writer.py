"""Write image rows exactly as Glance 33.0.0 writes them.

Used by ``scrubctl sandbox`` to seed a realistic Glance world, and by the tests and benchmarks to
build the states real Glance leaves behind (active, deleted with ``delayed_delete``, a location
deleted from one store). Nothing here writes to a production database; restore and repair share
only :func:`location_metadata` (a location's ``meta_data`` as Glance writes it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, false, insert, update

from scrubctl.glance import schema
from scrubctl.glance.encryption import encrypt_url
from scrubctl.glance.schema import ACTIVE, PENDING_DELETE
from scrubctl.settings.utc import glance_timestamp


@dataclass(frozen=True)
class NewLocation:
    """A location of a new image: its URL and, in multi-store mode, its store name."""

    url: str
    store: str | None = None


@dataclass(frozen=True)
class NewImage:
    """An active image as the Glance API would create it after an upload."""

    id: str
    name: str
    owner: str
    size: int
    locations: Sequence[NewLocation]
    created_at: datetime
    visibility: str = "private"
    protected: bool = False
    disk_format: str = "qcow2"
    container_format: str = "bare"
    checksum: str | None = None
    os_hash_value: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    tags: Sequence[str] = ()
    members: Sequence[str] = ()


def location_metadata(store: str | None) -> str:
    """Return ``meta_data`` as Glance writes it: ``{}`` single-store, ``{"store": name}`` multi."""
    return json.dumps({"store": store} if store else {})


def create_image(connection: Connection, image: NewImage, encryption_key: str | None = None) -> None:
    """Insert an active image with its locations, properties, tags and members."""
    created = glance_timestamp(image.created_at)
    _insert_image_row(connection, image, created)
    _insert_locations(connection, image, created, encryption_key)
    _insert_metadata(connection, image, created)


def _insert_live(connection: Connection, table: Table, created: datetime, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` with the columns every Glance model has set as Glance sets them
    on a new row: created and last updated at ``created``, not deleted."""
    for row in rows:
        connection.execute(
            insert(table).values(**row, created_at=created, updated_at=created, deleted_at=None, deleted=False)
        )


def _insert_image_row(connection: Connection, image: NewImage, created: datetime) -> None:
    """The ``images`` row of an active image."""
    row = {
        "id": image.id,
        "name": image.name,
        "size": image.size,
        "status": ACTIVE,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "checksum": image.checksum,
        "owner": image.owner,
        "min_disk": 0,
        "min_ram": 0,
        "protected": image.protected,
        "virtual_size": image.size,
        "visibility": image.visibility,
        "os_hidden": False,
        "os_hash_algo": "sha512" if image.os_hash_value else None,
        "os_hash_value": image.os_hash_value,
    }
    _insert_live(connection, schema.images, created, [row])


def _insert_locations(connection: Connection, image: NewImage, created: datetime, encryption_key: str | None) -> None:
    """The image's active location rows (URLs encrypted when a key is given)."""
    rows = [
        {
            "image_id": image.id,
            "value": encrypt_url(encryption_key, location.url) if encryption_key else location.url,
            "meta_data": location_metadata(location.store),
            "status": ACTIVE,
        }
        for location in image.locations
    ]
    _insert_live(connection, schema.image_locations, created, rows)


def _insert_metadata(connection: Connection, image: NewImage, created: datetime) -> None:
    """The image's properties, tags and members."""
    properties = [{"image_id": image.id, "name": name, "value": value} for name, value in image.properties.items()]
    _insert_live(connection, schema.image_properties, created, properties)
    tags = [{"image_id": image.id, "value": tag} for tag in image.tags]
    _insert_live(connection, schema.image_tags, created, tags)
    members = [
        {"image_id": image.id, "member": member, "can_share": False, "status": "accepted"} for member in image.members
    ]
    _insert_live(connection, schema.image_members, created, members)


def delete_image(connection: Connection, image_id: str, at: datetime, location_skew_seconds: int = 1) -> None:
    """Write what ``DELETE /v2/images/{id}`` writes with ``delayed_delete = True``.

    The image goes to ``pending_delete`` with ``deleted = 1`` and ``deleted_at = updated_at = at``;
    every location to ``pending_delete``, ``deleted = 1``, stamped ``location_skew_seconds`` earlier
    (as measured on the real API); every live property, tag and member is soft-deleted at ``at``,
    and properties deleted earlier are re-stamped with ``at`` (Glance purges properties on delete).
    """
    moment = glance_timestamp(at)
    location_moment = moment - timedelta(seconds=location_skew_seconds)
    connection.execute(
        update(schema.image_locations)
        .where(schema.image_locations.c.image_id == image_id, schema.image_locations.c.deleted == false())
        .values(status=PENDING_DELETE, deleted=True, deleted_at=location_moment, updated_at=location_moment)
    )
    connection.execute(
        update(schema.image_properties)
        .where(schema.image_properties.c.image_id == image_id)
        .values(deleted=True, deleted_at=moment, updated_at=moment)
    )
    for table in (schema.image_tags, schema.image_members):
        connection.execute(
            update(table)
            .where(table.c.image_id == image_id, table.c.deleted == false())
            .values(deleted=True, deleted_at=moment, updated_at=moment)
        )
    connection.execute(
        update(schema.images)
        .where(schema.images.c.id == image_id)
        .values(status=PENDING_DELETE, deleted=True, deleted_at=moment, updated_at=moment)
    )


def delete_location_from_store(connection: Connection, location_id: int, at: datetime) -> None:
    """Write what ``DELETE /v2/stores/<store>/<id>`` writes: one location pending, the image active."""
    moment = glance_timestamp(at)
    connection.execute(
        update(schema.image_locations)
        .where(schema.image_locations.c.id == location_id)
        .values(status=PENDING_DELETE, deleted=True, deleted_at=moment, updated_at=moment)
    )


def remove_tag(connection: Connection, image_id: str, tag: str, at: datetime) -> None:
    """Soft-delete one tag of a live image, as the API does for ``DELETE .../tags/<tag>``."""
    moment = glance_timestamp(at)
    connection.execute(
        update(schema.image_tags)
        .where(
            schema.image_tags.c.image_id == image_id,
            schema.image_tags.c.value == tag,
            schema.image_tags.c.deleted == false(),
        )
        .values(deleted=True, deleted_at=moment, updated_at=moment)
    )
