"""What must hold before an image's rows are brought back: its data still in the store, not shared
with another image waiting to be scrubbed, and which of its secrets the Glance API already destroyed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import ColumnElement, Connection, or_, select, true

from scrubctl.backends import DeleterPool
from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.locations import Location, LocationDecoder
from scrubctl.glance.schema import PENDING_DELETE, image_locations
from scrubctl.restore.model import NotRestorable, RestoreRefused, RestoreTools

KEY_ID_PROPERTY = "cinder_encryption_key_id"
KEY_POLICY_PROPERTY = "cinder_encryption_key_deletion_policy"
KEY_DELETED_ON_IMAGE_DELETION = "on_image_deletion"


def verify_data(deleters: DeleterPool, location: Location) -> None:
    """Check that the data behind ``location`` is still in its store; raise :class:`RestoreRefused` if not."""
    where = f"location {location.id} ({location.store_label or 'unknown store'}, {location.shown_url})"
    if location.problem or location.url is None or location.scheme is None or location.store is None:
        raise RestoreRefused(f"{where}: {location.problem or 'cannot be resolved to a store'}")
    try:
        present = deleters.get(location.scheme, location.store).exists(location.url)
    except (LocationBlocked, LocationFailed) as problem:
        raise RestoreRefused(f"{where}: {problem}") from None
    except BackendUnavailableError as unreachable:
        raise RestoreRefused(
            f"{where}: store unreachable: {unreachable}", unreachable=f"store {location.store_label}: {unreachable}"
        ) from None
    if not present:
        raise RestoreRefused(f"{where}: the data is gone from the store")


def refuse_shared_with_pending(
    connection: Connection, tools: RestoreTools, image_id: str, locations: Sequence[Location]
) -> None:
    """Refuse data that another image's pending_delete location also holds: a scrub of that image
    would erase it under the restored one."""
    sharers = pending_users(
        connection,
        tools.decoder,
        image_id,
        [location.url for location in locations if location.url],
        encrypted_rows=tools.check_encrypted_sharing,
    )
    if sharers:
        shown = ", ".join(sorted(sharers)[:3]) + (f" and {len(sharers) - 3} more" if len(sharers) > 3 else "")
        raise RestoreRefused(
            f"its data is shared with pending_delete location(s) of image(s) {shown}: a scrub of those "
            "would erase it under the restored image"
        )


def pending_users(
    connection: Connection, decoder: LocationDecoder, image_id: str, urls: Sequence[str], *, encrypted_rows: bool
) -> set[str]:
    """Return the other images with a pending_delete location holding one of ``urls``.

    Plaintext rows are matched in SQL; with ``encrypted_rows``, other pending encrypted rows are
    decrypted and compared too (the same URL encrypts differently every time).
    """
    wanted = set(urls)
    if not wanted:
        return set()
    matches: ColumnElement[bool] = image_locations.c.value.in_(sorted(wanted))
    if encrypted_rows:
        matches = or_(matches, image_locations.c.value.not_like("%://%"))
    rows = connection.execute(
        select(image_locations.c.image_id, image_locations.c.value).where(
            image_locations.c.deleted == true(),
            image_locations.c.status == PENDING_DELETE,
            image_locations.c.image_id != image_id,
            matches,
        )
    )
    return {other for other, value in rows if decoder.decrypt(value)[0] in wanted}


def destroyed_key(properties: Mapping[str, str | None]) -> NotRestorable | None:
    """Name the encryption key the Glance API destroyed when it deleted the image, if it did.

    Glance deletes the key manager secret named by ``cinder_encryption_key_id`` at deletion time when
    the image's ``cinder_encryption_key_deletion_policy`` property is ``on_image_deletion`` (what
    Cinder sets on images it uploads from encrypted volumes); without that property it leaves the key.
    """
    key_id = properties.get(KEY_ID_PROPERTY)
    if not key_id or properties.get(KEY_POLICY_PROPERTY) != KEY_DELETED_ON_IMAGE_DELETION:
        return None
    return NotRestorable(
        "property",
        KEY_ID_PROPERTY,
        f"the Glance API deleted encryption key {key_id} from the key manager when the image was deleted "
        f"({KEY_POLICY_PROPERTY} = {KEY_DELETED_ON_IMAGE_DELETION}); the property comes back but the key "
        "does not: volumes created from this image cannot be decrypted unless the key is recovered",
    )
