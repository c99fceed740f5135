"""What blocks pending locations beyond their rows: shared data and backend dependencies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import islice

from sqlalchemy import Connection

from scrubctl.backends import DeleterPool
from scrubctl.backends.base import LocationBlocked
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.image_details import ImageDetails
from scrubctl.glance.locations import Location, LocationDecoder
from scrubctl.glance.pending import ImageEntry
from scrubctl.glance.sharing import live_users
from scrubctl.settings.config import Settings


def shared_data_reason(url: str, image_id: str, users: dict[str, set[str]]) -> str | None:
    """Explain that live images other than ``image_id`` still use ``url``, or return ``None``."""
    others = sorted(users.get(url, set()) - {image_id})
    if not others:
        return None
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return f"data shared with live image(s) {shown}"


def backend_blockers(pool: DeleterPool, location: Location) -> list[str]:
    """Ask the location's deleter what blocks it (children, watchers, a path outside the store)."""
    if location.url is None or location.scheme is None or location.store is None:
        return []
    try:
        return pool.get(location.scheme, location.store).blockers(location.url)
    except LocationBlocked as blocked:
        return [str(blocked)]
    except BackendUnavailableError as error:
        return [f"backend unreachable: {error}"]


def location_reasons(location: Location, users: dict[str, set[str]], pool: DeleterPool) -> list[str]:
    """What blocks one pending location beyond its row: data a live image shares, then what its
    backend says (nothing more is asked for a location whose row already has a problem)."""
    if location.problem is not None or location.url is None:
        return []
    shared = shared_data_reason(location.url, location.image_id, users)
    return ([shared] if shared else []) + backend_blockers(pool, location)


def location_blockers(
    connection: Connection, decoder: LocationDecoder, pool: DeleterPool, details: ImageDetails, settings: Settings
) -> dict[int, list[str]]:
    """Return, per pending location id of one image, what blocks erasing it."""
    pending = [location for location in details.pending_locations if location.url is not None]
    users = live_users(
        connection,
        decoder,
        [location.url for location in pending if location.url],
        encrypted_rows=settings.encryption_key is not None,
    )
    blockers = {location.id: location_reasons(location, users, pool) for location in pending}
    return {location_id: reasons for location_id, reasons in blockers.items() if reasons}


CHECK_CHUNK = 2000


def with_backend_checks(
    connection: Connection,
    decoder: LocationDecoder,
    pool: DeleterPool,
    entries: Iterable[ImageEntry],
    *,
    encrypted_rows: bool,
) -> Iterator[ImageEntry]:
    """Add shared-data and backend blockers (clones, watchers, paths outside the store) to each
    entry's flags. ``connection`` must not be the one streaming ``entries``; one shared-data query
    runs per chunk of entries, never one per image."""
    iterator = iter(entries)
    while chunk := list(islice(iterator, CHECK_CHUNK)):
        urls = [location.url for entry in chunk for location in entry.locations if location.url]
        users = live_users(connection, decoder, urls, encrypted_rows=encrypted_rows)
        for entry in chunk:
            extra = [
                f"location {location.id}: {reason}"
                for location in entry.locations
                for reason in location_reasons(location, users, pool)
            ]
            yield replace(entry, flags=entry.flags + tuple(extra)) if extra else entry
