"""One image's work in a run, and its result once recorded (what another run recorded first left out)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scrubctl.engine.model import ImageResult, LocationResult, PlannedImage, Result
from scrubctl.glance.schema import DELETED


@dataclass(slots=True)
class ImageWork:
    """What one image's erasing produced, before it is recorded."""

    image: PlannedImage
    locations: list[LocationResult] = field(default_factory=list)
    erased_ids: list[int] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bytes: int = 0
    finished: bool = False


def recorded_result(
    work: ImageWork, locations: dict[int, str | None], images: dict[str, str | None], dry_run: bool
) -> ImageResult | None:
    """The result of ``work`` once its batch is recorded, given the rows the guarded updates left
    unchanged (with their status now); ``None`` when another run recorded it all first."""
    if _recorded_by_another_run(work, locations, images):
        return None
    raced = [location_id for location_id in work.erased_ids if location_id in locations]
    if raced:
        work.failed.append(f"location row(s) {', '.join(map(str, raced))} changed during the run")
    if work.image.id in images:
        work.failed.append("image row changed during the run; not marked deleted")
    return work_result(work, dry_run)


def _recorded_by_another_run(work: ImageWork, locations: dict[int, str | None], images: dict[str, str | None]) -> bool:
    """Leave to another run what it recorded first (rows this run's guarded updates found ``deleted``):
    those locations are taken out of ``work``, bytes included, so that only one run counts them.
    Return whether nothing is left for this run to report (the image is then the other run's)."""
    others = {location_id for location_id in work.erased_ids if locations.get(location_id, "") == DELETED}
    image_taken = images.get(work.image.id, "") == DELETED
    if not others and not image_taken:
        return False
    work.erased_ids = [location_id for location_id in work.erased_ids if location_id not in others]
    work.bytes -= sum(location.bytes or 0 for location in work.locations if location.id in others)
    work.locations = [location for location in work.locations if location.id not in others]
    if image_taken:
        images.pop(work.image.id)  # finalized by the other run: not a change to report
    nothing_left = not (work.locations or work.blocked or work.failed)
    return nothing_left and (image_taken or not work.finished)


def work_result(work: ImageWork, dry_run: bool) -> ImageResult:
    """The result of ``work`` as it stands."""
    image = work.image
    if work.failed:
        outcome, reason = Result.FAILED, "; ".join(work.failed + work.blocked)
    elif work.blocked:
        outcome, reason = Result.BLOCKED, "; ".join(work.blocked)
    else:
        outcome = Result.WOULD_SCRUB if dry_run else Result.SCRUBBED
        details = [location.reason for location in work.locations if location.outcome == "trashed"]
        if not image.locations:
            details.insert(0, "nothing left to erase; finalized" if not dry_run else "nothing left to erase")
        reason = "; ".join(details)
    return ImageResult(
        image.id,
        image.entry.name,
        outcome,
        reason,
        work.bytes,
        tuple(work.locations),
        image.whole_image,
        image.entry.size,
    )
