"""Choosing what to scrub and explaining what blocks it, before anything is touched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from scrubctl.engine.blockers import shared_data_reason
from scrubctl.engine.model import Plan, PlannedImage, PlannedLocation
from scrubctl.errors import RefusedError
from scrubctl.glance.locations import LocationDecoder
from scrubctl.glance.pending import DELETED_AT_NOT_SET, ImageEntry, PendingQueue, Selection
from scrubctl.glance.schema import PENDING_DELETE, images
from scrubctl.glance.sharing import live_users


@dataclass(frozen=True)
class ScrubSelection:
    """The operator's choice: by default what is due; ``older_than`` replaces the due rule;
    ``image_ids`` takes exactly those images; the rest narrow."""

    older_than: datetime | None = None
    image_ids: Sequence[str] = ()
    owner: str | None = None
    store: str | None = None
    limit: int | None = None
    max_delete: int | None = None

    def as_pending_selection(self) -> Selection:
        """The pending-queue query this choice runs."""
        explicit = bool(self.image_ids)
        return Selection(
            older_than=self.older_than,
            due_only=self.older_than is None and not explicit,
            owner=self.owner,
            store=self.store,
            limit=self.limit,
            image_ids=tuple(self.image_ids),
        )


def build_plan(
    connection: Connection,
    queue: PendingQueue,
    decoder: LocationDecoder,
    choice: ScrubSelection,
    *,
    check_encrypted_sharing: bool,
) -> Plan:
    """Select the images to scrub and name what is known to block each.

    Raises :class:`RefusedError` when the plan erases the data of more images than ``max_delete``
    (blocked images count only when some of their locations are erased).
    """
    selection = choice.as_pending_selection()
    entries: list[ImageEntry] = []
    for _title, section in queue.pending_work(connection, selection):
        entries.extend(section)
    urls = [location.url for entry in entries for location in entry.locations if location.url is not None]
    users = live_users(connection, decoder, urls, encrypted_rows=check_encrypted_sharing)
    planned = tuple(_plan_image(entry, users, choice.store) for entry in entries)
    missing = _missing_ids(connection, choice.image_ids, {entry.id for entry in entries})
    plan = Plan(images=planned, missing=missing)
    if choice.max_delete is not None and plan.images_to_erase > choice.max_delete:
        raise RefusedError(
            f"refusing to start: the plan erases the data of {plan.images_to_erase} images, more than "
            f"--max-delete {choice.max_delete}; narrow the selection or raise the limit"
        )
    return plan


def _plan_image(entry: ImageEntry, users: dict[str, set[str]], store: str | None) -> PlannedImage:
    """Plan one image; with ``--store``, locations in other stores are left alone (so the image
    stays pending until a run erases them too). A pending image without ``deleted_at`` (only an
    explicit ``--image`` selects one) is blocked whole."""
    locations = []
    for location in entry.locations:
        reason = location.problem or (shared_data_reason(location.url, entry.id, users) if location.url else None)
        if reason is None and store is not None and location.store_label != store:
            reason = f"in store {location.store_label}, left alone by --store {store}"
        locations.append(PlannedLocation(location=location, blocked=reason))
    damaged = entry.status == PENDING_DELETE and entry.pending_since is None
    return PlannedImage(entry=entry, locations=tuple(locations), blocked=DELETED_AT_NOT_SET if damaged else None)


def _missing_ids(connection: Connection, wanted: Sequence[str], found: set[str]) -> tuple[tuple[str, str], ...]:
    """Explain each explicitly named image that is not in the scrub queue."""
    absent = [image_id for image_id in dict.fromkeys(wanted) if image_id not in found]
    if not absent:
        return ()
    statuses = dict(connection.execute(select(images.c.id, images.c.status).where(images.c.id.in_(absent))).all())
    return tuple((image_id, _why_absent(statuses.get(image_id))) for image_id in absent)


def _why_absent(status: str | None) -> str:
    if status is None:
        return "no such image"
    if status == PENDING_DELETE:
        return "left out by the other options (--older-than, --owner, --store, --limit)"
    return f"image is {status}, not pending_delete, and has no pending location"
