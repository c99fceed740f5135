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
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError

from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.broken.model import DATA_MISSING, REPAIRABLE_PROBLEMS, BrokenImage, FoundData
from scrubctl.coordination.claims import ClaimSession
from scrubctl.coordination.conflicts import ConflictLostError, run_transaction
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.database import describe_db_error
from scrubctl.glance.image_details import load_image
from scrubctl.glance.outage import is_unreachable
from scrubctl.glance.schema import image_locations, images
from scrubctl.restore.checks import pending_users
from scrubctl.restore.engine import plan_revival, until_database_gone
from scrubctl.restore.model import REFUSED, ImageOutcome, OutcomeReport, RestorePlan, RestoreRefused, RestoreTools
from scrubctl.restore.writes import write_location, write_restore
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import glance_timestamp

logger = logging.getLogger(__name__)


class RepairResult(str, enum.Enum):
    """The result of one image."""

    REPAIRED = "repaired"
    WOULD_REPAIR = "would_repair"
    REFUSED = REFUSED


@dataclass(frozen=True)
class ImageRepair(ImageOutcome[RepairResult]):
    """What happened to one image: ``restore``'s result, with its problems and the locations linked."""

    problem: str = "-"
    locations_linked: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of one image (``restore``'s, with the problem and the locations linked)."""
        ordered: dict[str, Any] = {"id": self.id, "problem": self.problem}
        for key, value in super().as_dict().items():
            ordered[key] = value
            if key == "locations_restored":
                ordered["locations_linked"] = self.locations_linked
        return ordered


@dataclass(frozen=True)
class RepairReport(OutcomeReport[ImageRepair]):
    """Every image's result of ``broken --repair``."""

    duration_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``broken --repair -f json``."""
        summary = {
            "dry_run": self.dry_run,
            "selected": len(self.images),
            "repaired": self.count(RepairResult.REPAIRED),
            "would_repair": self.count(RepairResult.WOULD_REPAIR),
            "refused": self.count(RepairResult.REFUSED),
            "unreachable": self.unreachable,
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

    def lost(image_id: str, reason: str, unreachable: str) -> ImageRepair:
        problem = problems_named(chosen[image_id])
        return ImageRepair(image_id, RepairResult.REFUSED, reason, unreachable=unreachable, problem=problem)

    if dry_run:
        repairer = _Repairer(tools, encryption_key, dry_run=True)
        results = until_database_gone(
            list(chosen), lambda image_id: repairer.one(connection, image_id, chosen[image_id]), lost
        )
        return RepairReport(True, results, time.monotonic() - started)
    connection.execution_options(sqlite_write=True)
    with ClaimSession(connection.engine, purpose="repair", timeout_seconds=tools.claim_timeout) as claims:
        repairer = _Repairer(tools, encryption_key, dry_run=False, claims=claims)
        results = until_database_gone(
            list(chosen), lambda image_id: repairer.one(connection, image_id, chosen[image_id]), lost
        )
    return RepairReport(False, results, time.monotonic() - started)


def problems_named(problems: Sequence[BrokenImage]) -> str:
    """The problems of an image, as its result names them (``-`` for none)."""
    return ", ".join(item.problem for item in problems) or "-"


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
    """Repairs images one at a time: under ``claims`` unless ``dry_run`` (which reads and verifies only)."""

    def __init__(
        self, tools: RestoreTools, encryption_key: str | None, *, dry_run: bool, claims: ClaimSession | None = None
    ) -> None:
        self.tools = tools
        self.key = encryption_key
        self.dry_run = dry_run
        self.claims = claims

    def one(self, connection: Connection, image_id: str, problems: Sequence[BrokenImage]) -> ImageRepair:
        """Repair one image with these problems (none: an id the scan did not find); return its result."""
        problem = problems_named(problems)
        if not problems:
            with connection.begin():
                exists = connection.execute(select(images.c.id).where(images.c.id == image_id)).first()
            if not exists:
                return ImageRepair(image_id, RepairResult.REFUSED, "no such image", problem=problem)
        why = refusal(problems)
        if why is not None:
            return ImageRepair(image_id, RepairResult.REFUSED, why, problem=problem)
        try:
            plan, link = self._revive(connection, problems[0])
        except RestoreRefused as refused:
            logger.warning("image %s not repaired: %s", image_id, refused)
            return ImageRepair(
                image_id, RepairResult.REFUSED, str(refused), unreachable=refused.unreachable, problem=problem
            )
        except (ConflictLostError, DBAPIError) as error:
            if is_unreachable(error):
                raise  # the run stops here (see until_database_gone)
            reason = describe_db_error(error) if isinstance(error, DBAPIError) else str(error)
            return ImageRepair(image_id, RepairResult.REFUSED, f"database: {reason}; nothing changed", problem=problem)
        result = RepairResult.WOULD_REPAIR if self.dry_run else RepairResult.REPAIRED
        logger.info("image %s %s", image_id, result.value)
        return ImageRepair(
            image_id,
            result,
            f"data verified: {mask_url(link.url)}" if link else "",
            locations_restored=len(plan.locations),
            properties_restored=len(plan.property_ids),
            tags_restored=len(plan.tag_ids),
            members_restored=len(plan.member_ids),
            not_restorable=plan.not_restorable,
            problem=problem,
            locations_linked=1 if link else 0,
        )

    def _revive(self, connection: Connection, broken: BrokenImage) -> tuple[RestorePlan, Link | None]:
        """Plan (and, unless a dry run, write under the image's claim) what brings the image back."""
        if self.dry_run:
            link = self._link(connection, broken)
            with connection.begin():
                return self._plan(connection, broken, link), link
        claims = self.claims
        if claims is None:
            raise ValueError("a repair that is not a dry run takes the image's claim: claims are needed")
        if not claims.take_waiting(connection, broken.id, self.tools.wait_seconds):
            raise RestoreRefused("another scrubctl run holds this image; try again later")
        try:
            link = self._link(connection, broken)
            plan = run_transaction(connection, lambda current: self._write(current, broken, link, claims))
        finally:
            claims.release(connection, [broken.id])
        return plan, link

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
            write_location(connection, broken.id, link.url, link.found.scanned.store.name, now, self.key)
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
