"""Bringing pending_delete images back, as Glance had them before ``DELETE /v2/images/{id}``.

Unlike ``glance-scrubber --restore`` (which sets the image ``active`` and leaves its locations,
properties, tags and members deleted: an active image without data), each image is restored whole,
in one transaction, under the same claim the scrubber takes (:mod:`~scrubctl.coordination.claims`),
committed before anything is read:

1. the image row is re-read under the claim and must still be ``pending_delete``;
2. the rows Glance soft-deleted together with the image are found: locations still
   ``pending_delete``, and properties, tags and members whose ``deleted_at`` lies within
   :data:`DELETED_TOGETHER_TOLERANCE` of the image's (a real delete stamps the locations one second
   earlier; tags and members removed earlier keep their older time and stay deleted);
3. the data of every location to restore must still exist in its store (the deleter's ``exists``);
4. guarded updates (``WHERE status = 'pending_delete'``, row counts checked) write the rows back,
   the audit trail records the restore, and the transaction commits.

A claim held by a scrub means the restore waits for it and then sees the scrub's result, and a scrub
that comes second sees an ``active`` image and leaves it alone: never an active image without data.
A transaction another database node won is run again from the start. Any refusal changes nothing for
that image; the other images go on, unless the database stopped answering (then none is
attempted after it). A dry run takes no claim and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, select, true
from sqlalchemy.exc import DBAPIError

from scrubctl.coordination.claims import ClaimSession
from scrubctl.coordination.conflicts import ConflictLostError, run_transaction
from scrubctl.glance import schema
from scrubctl.glance.database import describe_db_error
from scrubctl.glance.image_details import load_image
from scrubctl.glance.locations import Location
from scrubctl.glance.outage import is_unreachable
from scrubctl.glance.schema import DELETED, PENDING_DELETE
from scrubctl.restore.checks import destroyed_key, refuse_shared_with_pending, verify_data
from scrubctl.restore.model import (
    ImageRestore,
    NotRestorable,
    RestorePlan,
    RestoreRefused,
    RestoreReport,
    RestoreResult,
    RestoreTools,
)
from scrubctl.restore.writes import write_restore
from scrubctl.settings.utc import glance_timestamp, iso_utc

logger = logging.getLogger(__name__)

R = TypeVar("R")


def restore_images(
    connection: Connection, tools: RestoreTools, image_ids: Sequence[str], *, dry_run: bool
) -> RestoreReport:
    """Restore each image under its own claim and transaction; one refusal never stops the others.

    ``connection`` must not be in a transaction. With ``dry_run`` everything is read and verified,
    and nothing is claimed or written.
    """
    unique = list(dict.fromkeys(image_ids))
    if dry_run:
        results = until_database_gone(
            unique, lambda image_id: restore_image(connection, tools, image_id, dry_run=True), _lost
        )
        return RestoreReport(dry_run=True, images=results)
    connection.execution_options(sqlite_write=True)  # SQLite: writes BEGIN IMMEDIATE
    with ClaimSession(connection.engine, purpose="restore", timeout_seconds=tools.claim_timeout) as claims:
        results = until_database_gone(
            unique, lambda image_id: restore_image(connection, tools, image_id, dry_run=False, claims=claims), _lost
        )
    return RestoreReport(dry_run=False, images=results)


def until_database_gone(
    image_ids: Sequence[str], attempt: Callable[[str], R], lost: Callable[[str, str, str], R]
) -> tuple[R, ...]:
    """``attempt`` each image in turn, until the database is unreachable (the one
    :class:`DBAPIError` ``attempt`` lets through), which one line says. Then each image left gets
    ``lost(image_id, reason, problem)`` (``problem``: ``database: WHY``): the one in flight, whose
    outcome is unknown (a COMMIT may have reached the server, its answer lost), and those after it,
    not attempted (each would fail the same way)."""
    results: list[R] = []
    for index, image_id in enumerate(image_ids):
        try:
            results.append(attempt(image_id))
        except DBAPIError as error:
            problem = f"database: {describe_db_error(error)}"
            rest = image_ids[index + 1 :]
            logger.error(
                "database unreachable: %s; image %s: outcome unknown; %d image(s) not attempted",
                describe_db_error(error),
                image_id,
                len(rest),
            )
            results.append(lost(image_id, f"{problem}; outcome unknown (no answer during it)", problem))
            results.extend(lost(other, f"{problem}; not attempted", problem) for other in rest)
            break
    return tuple(results)


def _lost(image_id: str, reason: str, problem: str) -> ImageRestore:
    return ImageRestore(image_id, RestoreResult.REFUSED, reason, unreachable=problem)


def restore_image(
    connection: Connection,
    tools: RestoreTools,
    image_id: str,
    *,
    dry_run: bool,
    claims: ClaimSession | None = None,
) -> ImageRestore:
    """Claim, re-read, verify and restore one image; return its result (refusals included).

    With ``dry_run``, read and verify only; otherwise the image is claimed through ``claims`` (which
    a restore that is not a dry run needs). Raises :class:`DBAPIError` when the database is
    unreachable (see :func:`until_database_gone`).
    """
    label = " (dry run; not making any changes)" if dry_run else ""
    done = "would be restored" if dry_run else "restored"
    try:
        if dry_run:
            with connection.begin():
                plan = plan_restore(connection, tools, image_id)
        else:
            plan = _restore_claimed(connection, tools, image_id, claims)
        logger.info("image %s %s%s", image_id, done, label)
        return _restored(plan, dry_run)
    except RestoreRefused as refused:
        logger.warning("image %s not restored: %s%s", image_id, refused, label)
        return ImageRestore(image_id, RestoreResult.REFUSED, str(refused), unreachable=refused.unreachable)
    except ConflictLostError as lost:
        logger.warning("image %s not restored: %s", image_id, lost)
        return ImageRestore(image_id, RestoreResult.REFUSED, f"{lost}; nothing changed, try again")
    except DBAPIError as error:
        if is_unreachable(error):
            raise
        reason = describe_db_error(error)
        logger.error("image %s not restored: database error: %s", image_id, reason)
        return ImageRestore(
            image_id,
            RestoreResult.REFUSED,
            f"database error, nothing changed: {reason}",
            unreachable=f"database: {reason}",
        )


def _restore_claimed(
    connection: Connection, tools: RestoreTools, image_id: str, claims: ClaimSession | None
) -> RestorePlan:
    """Take the image's claim (waiting for another run to let it go), then plan and write in one
    transaction, run again from the start when another database node wins it."""
    if claims is None:
        raise ValueError("a restore that is not a dry run takes the image's claim: claims are needed")
    if not claims.take_waiting(connection, image_id, tools.wait_seconds):
        raise RestoreRefused(f"another scrubctl run holds this image (waited {tools.wait_seconds}s); try again later")
    recorded: list[bool] = []

    def plan_and_write(current: Connection) -> RestorePlan:
        plan = plan_restore(current, tools, image_id)
        if not claims.may_erase(image_id):
            raise RestoreRefused("this run's claim on the image could not be renewed in time; nothing changed")
        write_restore(current, plan, glance_timestamp())
        if not recorded:  # once, before the first commit: a retry is the same restore
            tools.audit.record("restore", _audit_fields(plan))
            recorded.append(True)
        return plan

    try:
        return run_transaction(connection, plan_and_write, what="restore")
    finally:
        claims.release(connection, [image_id])


def _restored(plan: RestorePlan, dry_run: bool) -> ImageRestore:
    return ImageRestore(
        plan.image_id,
        RestoreResult.WOULD_RESTORE if dry_run else RestoreResult.RESTORED,
        locations_restored=len(plan.locations),
        properties_restored=len(plan.property_ids),
        tags_restored=len(plan.tag_ids),
        members_restored=len(plan.member_ids),
        not_restorable=plan.not_restorable,
    )


def plan_restore(connection: Connection, tools: RestoreTools, image_id: str) -> RestorePlan:
    """Read one claimed image and decide what to write back; raise :class:`RestoreRefused` if it must not be."""
    image = load_image(connection, image_id)
    return plan_revival(connection, tools, image_id, _deletion_time(image, image_id))


def plan_revival(
    connection: Connection, tools: RestoreTools, image_id: str, deletion: datetime, *, without_locations: bool = False
) -> RestorePlan:
    """Decide what to write back for an image deleted at ``deletion`` (``restore``, and ``broken --repair``
    of an image ``glance-scrubber --restore`` left half done): its pending_delete locations deleted with
    it, their data verified, and its properties, tags and members deleted with it.

    Raises :class:`RestoreRefused` when no location comes back, unless ``without_locations`` (the caller
    brings data back another way, or the image has live locations).
    """
    rows = connection.execute(
        select(schema.image_locations)
        .where(schema.image_locations.c.image_id == image_id)
        .order_by(schema.image_locations.c.id)
    ).mappings()
    locations = [tools.decoder.decode_row(row, image_id) for row in rows]
    chosen = [location for location in locations if _pending_since(location, deletion, tools.tolerance)]
    if not chosen and not without_locations:
        raise RestoreRefused(
            "no pending_delete location was deleted with the image: restoring it would leave an active "
            "image without data"
        )
    for location in chosen:
        verify_data(tools.deleters, location)
    refuse_shared_with_pending(connection, tools, image_id, chosen)
    properties = _deleted_with(connection, schema.image_properties, image_id, deletion, tools.tolerance)
    key = destroyed_key({row["name"]: row["value"] for row in properties})
    return RestorePlan(
        image_id=image_id,
        locations=tuple(chosen),
        property_ids=tuple(row["id"] for row in properties),
        tag_ids=_ids(_deleted_with(connection, schema.image_tags, image_id, deletion, tools.tolerance)),
        member_ids=_ids(_deleted_with(connection, schema.image_members, image_id, deletion, tools.tolerance)),
        not_restorable=(*([key] if key else []), *_locations_left(locations, deletion, tools.tolerance)),
    )


def _deletion_time(image: Mapping[str, Any] | None, image_id: str) -> datetime:
    """Return when the image was deleted, or refuse an image that is not pending_delete."""
    if image is None:
        raise RestoreRefused(f"no image {image_id} in the database")
    status = image["status"]
    if status == DELETED:
        raise RestoreRefused("image is deleted: its data is already erased")
    if status != PENDING_DELETE:
        raise RestoreRefused(f"image is {status}, not pending_delete: nothing to restore")
    deletion: datetime | None = image["deleted_at"] or image["updated_at"]
    if deletion is None:
        raise RestoreRefused("image has neither deleted_at nor updated_at: cannot tell which rows were deleted with it")
    return deletion


def deleted_together(moment: datetime | None, deletion: datetime, tolerance: timedelta) -> bool:
    """Tell whether a row stamped ``moment`` was deleted together with an image deleted at ``deletion``."""
    return moment is not None and abs(moment - deletion) <= tolerance


def _pending_since(location: Location, deletion: datetime, tolerance: timedelta) -> bool:
    return location.status == PENDING_DELETE and deleted_together(location.deleted_at, deletion, tolerance)


def _locations_left(locations: Sequence[Location], deletion: datetime, tolerance: timedelta) -> list[NotRestorable]:
    """Name the image's locations that stay as they are: removed from a store before, or already erased."""
    left = []
    for location in locations:
        name = f"location {location.id} ({location.store_label or 'unknown store'})"
        if location.status == PENDING_DELETE and not deleted_together(location.deleted_at, deletion, tolerance):
            reason = (
                f"removed from its store at {iso_utc(location.deleted_at)}, before the image was deleted; "
                "it stays pending_delete and the scrubber erases it"
            )
            left.append(NotRestorable("location", name, reason))
        elif (
            location.status == DELETED
            and location.deleted_at is not None
            and location.deleted_at >= deletion - tolerance
        ):
            left.append(NotRestorable("location", name, "its data was already erased by a scrub"))
    return left


def _deleted_with(
    connection: Connection, table: Table, image_id: str, deletion: datetime, tolerance: timedelta
) -> list[dict[str, Any]]:
    """Return the soft-deleted rows of ``table`` that were deleted together with the image."""
    rows = connection.execute(
        select(table).where(table.c.image_id == image_id, table.c.deleted == true()).order_by(table.c.id)
    ).mappings()
    return [dict(row) for row in rows if deleted_together(row["deleted_at"], deletion, tolerance)]


def _ids(rows: Sequence[Mapping[str, Any]]) -> tuple[int, ...]:
    return tuple(int(row["id"]) for row in rows)


def _audit_fields(plan: RestorePlan) -> dict[str, Any]:
    return {
        "image_id": plan.image_id,
        "locations": [
            {"id": location.id, "url": location.shown_url, "store": location.store_label} for location in plan.locations
        ],
        "properties": len(plan.property_ids),
        "tags": len(plan.tag_ids),
        "members": len(plan.member_ids),
        "not_restorable": [item.name for item in plan.not_restorable],
        "result": RestoreResult.RESTORED.value,
    }
