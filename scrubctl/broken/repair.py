"""``broken --repair``: make ``restored_without_locations``, ``unlinked`` and ``deleted_at_set`` images
whole the way ``restore`` does, under the same claims, with the same guarded updates.

For each image, under its claim (the subject is the image id, as for scrub, restore and reclaim), in
one transaction: the image is re-read and must still be as the scan found it; the pending_delete
locations, properties, tags and members deleted together with it come back (their data verified first,
:func:`scrubctl.restore.engine.plan_revival`); ``deleted_at`` is cleared. Where no location row is left
(``glance-manage db purge`` removed them), data named by the image's id in a scanned store is linked
back, with a location row as Glance writes it for that store, only when its MD5 matches the recorded
``checksum`` and its hash the recorded ``os_hash_value`` (both, when both are recorded); otherwise the
image is refused with the reason. ``data_missing`` is reported, never repaired. A dry run verifies
everything, takes no claim and writes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import DBAPIError

from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.broken.model import DATA_MISSING, REPAIRABLE_PROBLEMS, BrokenImage, FoundData
from scrubctl.coordination.claims import ClaimSession
from scrubctl.coordination.conflicts import ConflictLostError, run_transaction
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_INCOMPLETE, EXIT_OK, BackendUnavailableError
from scrubctl.glance.database import describe_db_error
from scrubctl.glance.encryption import encrypt_url
from scrubctl.glance.image_details import load_image
from scrubctl.glance.outage import is_unreachable
from scrubctl.glance.schema import ACTIVE, image_locations, images
from scrubctl.restore.checks import pending_users
from scrubctl.restore.engine import plan_revival, until_database_gone, write_restore
from scrubctl.restore.model import NotRestorable, RestorePlan, RestoreRefused, RestoreTools
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import glance_timestamp

logger = logging.getLogger(__name__)


class RepairResult(str, enum.Enum):
    """The result of one image."""

    REPAIRED = "repaired"
    WOULD_REPAIR = "would_repair"
    REFUSED = "refused"


@dataclass(frozen=True)
class ImageRepair:
    """What happened to one image."""

    id: str
    problem: str
    result: RepairResult
    reason: str = ""
    locations_restored: int = 0
    locations_linked: int = 0
    properties_restored: int = 0
    tags_restored: int = 0
    members_restored: int = 0
    not_restorable: tuple[NotRestorable, ...] = ()
    unreachable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of one image (``restore``'s, with the problem and the locations linked)."""
        return {
            "id": self.id,
            "problem": self.problem,
            "result": self.result.value,
            "reason": self.reason,
            "locations_restored": self.locations_restored,
            "locations_linked": self.locations_linked,
            "properties_restored": self.properties_restored,
            "tags_restored": self.tags_restored,
            "members_restored": self.members_restored,
            "not_restorable": [item.as_dict() for item in self.not_restorable],
        }


@dataclass(frozen=True)
class RepairReport:
    """Every image's result."""

    dry_run: bool
    images: tuple[ImageRepair, ...]
    duration_seconds: float = 0.0

    def count(self, result: RepairResult) -> int:
        """How many images ended with ``result``."""
        return sum(1 for image in self.images if image.result is result)

    @property
    def exit_code(self) -> int:
        """0 all repaired (or would be); 1 any refused; 3 a store or the database unreachable."""
        if any(image.unreachable for image in self.images):
            return EXIT_ENVIRONMENT
        return EXIT_INCOMPLETE if self.count(RepairResult.REFUSED) else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``broken --repair -f json``."""
        summary = {
            "dry_run": self.dry_run,
            "selected": len(self.images),
            "repaired": self.count(RepairResult.REPAIRED),
            "would_repair": self.count(RepairResult.WOULD_REPAIR),
            "refused": self.count(RepairResult.REFUSED),
            "unreachable": sorted({image.unreachable for image in self.images if image.unreachable}),
            "duration_seconds": round(self.duration_seconds, 3),
        }
        return {"summary": summary, "images": [image.as_dict() for image in self.images]}


@dataclass(frozen=True)
class Link:
    """Data found by the image's id and verified, to be linked back with a new location row."""

    found: FoundData
    url: str


def repair_images(
    connection: Connection,
    tools: RestoreTools,
    broken: Sequence[BrokenImage],
    image_ids: Sequence[str],
    *,
    dry_run: bool,
    encryption_key: str | None,
) -> RepairReport:
    """Repair the images named (default: every image with a repairable problem), one claim each."""
    started = time.monotonic()
    chosen = repair_selection(broken, image_ids)
    repairer = _Repairer(tools, encryption_key)

    def lost(image_id: str, reason: str, unreachable: str) -> ImageRepair:
        problem = ", ".join(item.problem for item in chosen[image_id]) or "-"
        return ImageRepair(image_id, problem, RepairResult.REFUSED, reason, unreachable=unreachable)

    if dry_run:
        results = until_database_gone(
            list(chosen), lambda image_id: repairer.one(connection, image_id, chosen[image_id], None), lost
        )
        return RepairReport(True, results, time.monotonic() - started)
    connection.execution_options(sqlite_write=True)
    with ClaimSession(connection.engine, purpose="repair", timeout_seconds=tools.claim_timeout) as claims:
        results = until_database_gone(
            list(chosen), lambda image_id: repairer.one(connection, image_id, chosen[image_id], claims), lost
        )
    return RepairReport(False, results, time.monotonic() - started)


def repair_selection(broken: Sequence[BrokenImage], image_ids: Sequence[str]) -> dict[str, list[BrokenImage]]:
    """The images a repair takes, in order, each with its problems (none for an id the scan did not
    find): the IDs given, else every image whose problems are all repairable."""
    by_id: dict[str, list[BrokenImage]] = {}
    for item in broken:
        by_id.setdefault(item.id, []).append(item)
    chosen = list(dict.fromkeys(image_ids)) or [
        image_id for image_id, items in by_id.items() if all(item.repairable for item in items)
    ]
    return {image_id: by_id.get(image_id, []) for image_id in chosen}


def refusal(problems: Sequence[BrokenImage]) -> str | None:
    """Why an image with these problems is never repaired, or None when a repair may try."""
    if not problems:
        return "not broken (as far as this scan can tell)"
    if any(item.problem == DATA_MISSING for item in problems):
        return "data_missing is reported, never repaired: " + "; ".join(item.detail for item in problems)
    if not all(item.repairable and item.problem in REPAIRABLE_PROBLEMS for item in problems):
        return "; ".join(item.detail for item in problems)
    return None


class _Repairer:
    def __init__(self, tools: RestoreTools, encryption_key: str | None) -> None:
        self.tools = tools
        self.key = encryption_key

    def one(
        self, connection: Connection, image_id: str, problems: Sequence[BrokenImage], claims: ClaimSession | None
    ) -> ImageRepair:
        problem = ", ".join(item.problem for item in problems) or "-"
        if not problems:
            with connection.begin():
                exists = connection.execute(select(images.c.id).where(images.c.id == image_id)).first()
            if not exists:
                return ImageRepair(image_id, problem, RepairResult.REFUSED, "no such image")
        why = refusal(problems)
        if why is not None:
            return ImageRepair(image_id, problem, RepairResult.REFUSED, why)
        first = problems[0]
        try:
            if claims is None:
                link = self._link(connection, first)
                with connection.begin():
                    plan = self._plan(connection, first, link)
            else:
                if not claims.take_waiting(connection, image_id, self.tools.wait_seconds):
                    raise RestoreRefused("another scrubctl run holds this image; try again later")
                try:
                    link = self._link(connection, first)
                    plan = run_transaction(connection, lambda current: self._write(current, first, link, claims))
                finally:
                    claims.release(connection, [image_id])
        except RestoreRefused as refused:
            logger.warning("image %s not repaired: %s", image_id, refused)
            return ImageRepair(image_id, problem, RepairResult.REFUSED, str(refused), unreachable=refused.unreachable)
        except (ConflictLostError, DBAPIError) as error:
            if is_unreachable(error):
                raise  # the run stops here (see until_database_gone)
            reason = describe_db_error(error) if isinstance(error, DBAPIError) else str(error)
            return ImageRepair(image_id, problem, RepairResult.REFUSED, f"database: {reason}; nothing changed")
        result = RepairResult.WOULD_REPAIR if claims is None else RepairResult.REPAIRED
        logger.info("image %s %s", image_id, result.value)
        return ImageRepair(
            image_id,
            problem,
            result,
            f"data verified: {mask_url(link.url)}" if link else "",
            locations_restored=len(plan.locations),
            locations_linked=1 if link else 0,
            properties_restored=len(plan.property_ids),
            tags_restored=len(plan.tag_ids),
            members_restored=len(plan.member_ids),
            not_restorable=plan.not_restorable,
        )

    def _link(self, connection: Connection, broken: BrokenImage) -> Link | None:
        """Data named by the id, verified against the recorded checksums, when no location row is left
        (read before the transaction that writes: hashing a large image takes a while)."""
        if any(item["state"] in ("live", "pending_delete") for item in broken.locations if item["id"] is not None):
            return None
        if not broken.found:
            return None
        with connection.begin():
            image = load_image(connection, broken.id)
        if image is None:
            raise RestoreRefused(f"no image {broken.id} in the database")
        return verified_link(broken.found, image)

    def _plan(self, connection: Connection, broken: BrokenImage, link: Link | None) -> RestorePlan:
        image = load_image(connection, broken.id)
        if image is None or image["status"] != broken.status:
            raise RestoreRefused("the image changed since the scan; nothing changed")
        deletion = image["deleted_at"]
        live = connection.execute(
            select(func.count())
            .select_from(image_locations)
            .where(image_locations.c.image_id == broken.id, image_locations.c.deleted == False)  # noqa: E712
        ).scalar_one()
        empty = RestorePlan(broken.id, (), (), (), (), ())
        plan = plan_revival(connection, self.tools, broken.id, deletion, without_locations=True) if deletion else empty
        if not live and not plan.locations and link is None:
            raise RestoreRefused("no location to bring back and no verified data named by its id")
        if link is not None:
            others = pending_users(
                connection,
                self.tools.decoder,
                broken.id,
                [link.url],
                encrypted_rows=self.tools.check_encrypted_sharing,
            )
            if others:
                raise RestoreRefused(
                    f"its data is also named by pending_delete location(s) of {', '.join(sorted(others))}"
                )
        return plan

    def _write(
        self, connection: Connection, broken: BrokenImage, link: Link | None, claims: ClaimSession
    ) -> RestorePlan:
        plan = self._plan(connection, broken, link)
        if not claims.may_erase(broken.id):
            raise RestoreRefused("this run's claim on the image could not be renewed in time; nothing changed")
        now = glance_timestamp()
        write_restore(connection, plan, now, image_status=broken.status)
        if link is not None:
            store = link.found.scanned.store
            meta = json.dumps({"store": store.name} if store.name else {})
            connection.execute(
                insert(image_locations).values(
                    image_id=broken.id,
                    value=encrypt_url(self.key, link.url) if self.key else link.url,
                    meta_data=meta,
                    status=ACTIVE,
                    deleted=False,
                    created_at=now,
                    updated_at=now,
                )
            )
        self.tools.audit.record(
            "repair",
            {
                "image_id": broken.id,
                "problem": broken.problem,
                "locations": [location.shown_url for location in plan.locations],
                "linked": mask_url(link.url) if link else None,
                "properties": len(plan.property_ids),
                "tags": len(plan.tag_ids),
                "members": len(plan.member_ids),
                "result": RepairResult.REPAIRED.value,
            },
        )
        return plan


def verified_link(found: Sequence[FoundData], image: Mapping[str, Any]) -> Link:
    """The first piece whose MD5 and hash match what the image row records; refuse when none does."""
    checksum, algorithm, expected = image.get("checksum"), image.get("os_hash_algo"), image.get("os_hash_value")
    if not checksum and not expected:
        raise RestoreRefused("no checksum or os_hash_value recorded: the data found by its id cannot be verified")
    reasons = []
    for item in found:
        md5 = hashlib.md5(usedforsecurity=False)
        hashed = hashlib.new(algorithm or "sha512")
        try:
            for chunk in item.scanned.inventory.read_chunks(item.piece.url):
                md5.update(chunk)
                hashed.update(chunk)
        except (LocationBlocked, LocationFailed) as problem:
            reasons.append(f"{mask_url(item.piece.url)}: {problem}")
            continue
        except BackendUnavailableError as unreachable:
            raise RestoreRefused(str(unreachable), unreachable=str(unreachable)) from None
        if checksum and md5.hexdigest() != checksum:
            reasons.append(f"{mask_url(item.piece.url)}: MD5 {md5.hexdigest()} is not the recorded checksum {checksum}")
        elif expected and hashed.hexdigest() != expected:
            reasons.append(f"{mask_url(item.piece.url)}: {algorithm or 'sha512'} does not match os_hash_value")
        else:
            return Link(item, item.piece.url)
    raise RestoreRefused("data found by its id does not match the image: " + "; ".join(reasons))
