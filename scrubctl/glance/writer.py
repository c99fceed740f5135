"""Write image rows exactly as Glance 33.0.0 writes them.

Used by ``scrubctl sandbox`` to seed a realistic Glance world, and by the tests and benchmarks to
build the states real Glance leaves behind (active, deleted with ``delayed_delete``, a location
deleted from one store). Nothing here writes to a production database; restore and repair share
only :func:`location_metadata` (a location's ``meta_data`` as Glance writes it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, false, insert, update

from scrubctl.glance.encryption import encrypt_url
from scrubctl.glance.schema import (
    ACTIVE,
    PENDING_DELETE,
    image_locations,
    image_members,
    image_properties,
    image_tags,
    images,
)
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


def _insert_image_row(connection: Connection, image: NewImage, created: datetime) -> None:
    """The ``images`` row of an active image."""
    connection.execute(
        insert(images).values(
            id=image.id,
            name=image.name,
            size=image.size,
            status=ACTIVE,
            created_at=created,
            updated_at=created,
            deleted_at=None,
            deleted=False,
            disk_format=image.disk_format,
            container_format=image.container_format,
            checksum=image.checksum,
            owner=image.owner,
            min_disk=0,
            min_ram=0,
            protected=image.protected,
            virtual_size=image.size,
            visibility=image.visibility,
            os_hidden=False,
            os_hash_algo="sha512" if image.os_hash_value else None,
            os_hash_value=image.os_hash_value,
        )
    )


def _insert_locations(connection: Connection, image: NewImage, created: datetime, encryption_key: str | None) -> None:
    """The image's active location rows (URLs encrypted when a key is given)."""
    for location in image.locations:
        value = encrypt_url(encryption_key, location.url) if encryption_key else location.url
        connection.execute(
            insert(image_locations).values(
                image_id=image.id,
                value=value,
                created_at=created,
                updated_at=created,
                deleted_at=None,
                deleted=False,
                meta_data=location_metadata(location.store),
                status=ACTIVE,
            )
        )


def _insert_metadata(connection: Connection, image: NewImage, created: datetime) -> None:
    """The image's properties, tags and members."""
    for name, value in image.properties.items():
        connection.execute(
            insert(image_properties).values(
                image_id=image.id, name=name, value=value, created_at=created, updated_at=created, deleted=False
            )
        )
    for tag in image.tags:
        connection.execute(
            insert(image_tags).values(
                image_id=image.id, value=tag, created_at=created, updated_at=created, deleted=False
            )
        )
    for member in image.members:
        connection.execute(
            insert(image_members).values(
                image_id=image.id,
                member=member,
                can_share=False,
                created_at=created,
                updated_at=created,
                deleted=False,
                status="accepted",
            )
        )


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
        update(image_locations)
        .where(image_locations.c.image_id == image_id, image_locations.c.deleted == false())
        .values(status=PENDING_DELETE, deleted=True, deleted_at=location_moment, updated_at=location_moment)
    )
    connection.execute(
        update(image_properties)
        .where(image_properties.c.image_id == image_id)
        .values(deleted=True, deleted_at=moment, updated_at=moment)
    )
    for table in (image_tags, image_members):
        connection.execute(
            update(table)
            .where(table.c.image_id == image_id, table.c.deleted == false())
            .values(deleted=True, deleted_at=moment, updated_at=moment)
        )
    connection.execute(
        update(images)
        .where(images.c.id == image_id)
        .values(status=PENDING_DELETE, deleted=True, deleted_at=moment, updated_at=moment)
    )


def delete_location_from_store(connection: Connection, location_id: int, at: datetime) -> None:
    """Write what ``DELETE /v2/stores/<store>/<id>`` writes: one location pending, the image active."""
    moment = glance_timestamp(at)
    connection.execute(
        update(image_locations)
        .where(image_locations.c.id == location_id)
        .values(status=PENDING_DELETE, deleted=True, deleted_at=moment, updated_at=moment)
    )


def remove_tag(connection: Connection, image_id: str, tag: str, at: datetime) -> None:
    """Soft-delete one tag of a live image, as the API does for ``DELETE .../tags/<tag>``."""
    moment = glance_timestamp(at)
    connection.execute(
        update(image_tags)
        .where(image_tags.c.image_id == image_id, image_tags.c.value == tag, image_tags.c.deleted == false())
        .values(deleted=True, deleted_at=moment, updated_at=moment)
    )
