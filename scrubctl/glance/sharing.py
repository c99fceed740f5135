"""Finding data that a live image still points at (Glance lets two images share one URL)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, false, select

from scrubctl.glance.locations import LocationDecoder
from scrubctl.glance.schema import image_locations

# One scan of the live locations costs about the same for 50 or 5,000 URLs (no index on a TEXT column).
CHUNK = 5000


def live_users(
    connection: Connection, decoder: LocationDecoder, urls: Iterable[str], *, encrypted_rows: bool
) -> dict[str, set[str]]:
    """Return, for each of ``urls`` that a live (not deleted) location also holds, those image ids.

    Plaintext rows are matched in SQL; when a ``metadata_encryption_key`` is configured
    (``encrypted_rows``), live encrypted rows are decrypted and compared too.
    """
    wanted = sorted(set(urls))
    users: dict[str, set[str]] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        rows = connection.execute(
            select(image_locations.c.image_id, image_locations.c.value).where(
                image_locations.c.deleted == false(), image_locations.c.value.in_(chunk)
            )
        )
        for image_id, value in rows:
            users.setdefault(value, set()).add(image_id)
    if encrypted_rows and wanted:
        wanted_set = set(wanted)
        rows = connection.execution_options(stream_results=True, yield_per=2000).execute(
            select(image_locations.c.image_id, image_locations.c.value).where(
                image_locations.c.deleted == false(), image_locations.c.value.not_like("%://%")
            )
        )
        for image_id, value in rows:
            url, _encrypted, problem = decoder.decrypt(value)
            if problem is None and url in wanted_set:
                users.setdefault(url, set()).add(image_id)
    return users
