"""Writing an image's rows back, as ``restore`` and ``broken --repair`` do: guarded updates whose
row counts are checked, and a location row linked back as Glance writes one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Update, insert, true, update

from scrubctl.glance import schema
from scrubctl.glance.encryption import encrypt_url
from scrubctl.glance.schema import ACTIVE, PENDING_DELETE
from scrubctl.glance.writer import location_metadata
from scrubctl.restore.model import RestorePlan, RestoreRefused


def write_restore(
    connection: Connection, plan: RestorePlan, now: datetime, *, image_status: str = PENDING_DELETE
) -> None:
    """Write the plan back with guarded updates.

    Runs inside the caller's transaction: a row count that does not match raises
    :class:`RestoreRefused`, and the caller's transaction rolls every row of the image back. The image
    row must still be ``image_status``; a ``pending_delete`` image becomes ``active``, any other keeps
    its status (``broken --repair`` of an active or deactivated image).
    """
    _guarded(
        connection,
        update(schema.images)
        .where(schema.images.c.id == plan.image_id, schema.images.c.status == image_status)
        .values(
            status=ACTIVE if image_status == PENDING_DELETE else image_status,
            deleted=False,
            deleted_at=None,
            updated_at=now,
        ),
        1,
        "image row",
    )
    location_ids = [location.id for location in plan.locations]
    _guarded(
        connection,
        update(schema.image_locations)
        .where(
            schema.image_locations.c.id.in_(location_ids),
            schema.image_locations.c.image_id == plan.image_id,
            schema.image_locations.c.status == PENDING_DELETE,
        )
        .values(status=ACTIVE, deleted=False, deleted_at=None, updated_at=now),
        len(location_ids),
        "location rows",
    )
    for table, ids in (
        (schema.image_properties, plan.property_ids),
        (schema.image_tags, plan.tag_ids),
        (schema.image_members, plan.member_ids),
    ):
        if ids:
            _guarded(
                connection,
                update(table)
                .where(table.c.id.in_(ids), table.c.image_id == plan.image_id, table.c.deleted == true())
                .values(deleted=False, deleted_at=None, updated_at=now),
                len(ids),
                f"{table.name} rows",
            )


def _guarded(connection: Connection, statement: Update, expected: int, what: str) -> None:
    changed = connection.execute(statement).rowcount
    if changed != expected:
        raise RestoreRefused(f"{what} changed while being restored ({changed} of {expected} updated); nothing changed")


def write_location(
    connection: Connection, image_id: str, url: str, store: str | None, now: datetime, encryption_key: str | None
) -> None:
    """Insert an active location row for data of ``image_id`` at ``url`` in ``store`` (``None``:
    single-store), as Glance writes one: ``meta_data`` naming the store, the URL encrypted when
    ``encryption_key`` (Glance's ``metadata_encryption_key``) is set."""
    connection.execute(
        insert(schema.image_locations).values(
            image_id=image_id,
            value=encrypt_url(encryption_key, url) if encryption_key else url,
            meta_data=location_metadata(store),
            status=ACTIVE,
            deleted=False,
            created_at=now,
            updated_at=now,
        )
    )
