"""Plans, results and the interfaces the engine reports through (no output of its own)."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from scrubctl.backends.base import EraseProgress
from scrubctl.errors import EXIT_BLOCKED, EXIT_ENVIRONMENT, EXIT_INCOMPLETE, EXIT_OK
from scrubctl.glance.locations import Location
from scrubctl.glance.pending import ImageEntry
from scrubctl.glance.schema import ACTIVE


class Result(str, enum.Enum):
    """The result of one image, as the JSON output and the summary name it."""

    SCRUBBED = "scrubbed"
    WOULD_SCRUB = "would_scrub"
    BLOCKED = "blocked"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PlannedLocation:
    """A pending location and, when known before touching anything, why it must not be erased."""

    location: Location
    blocked: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedImage:
    """One unit of work: a pending image, or the pending locations of a live image."""

    entry: ImageEntry
    locations: tuple[PlannedLocation, ...]
    blocked: str | None = None

    @property
    def id(self) -> str:
        """The image id."""
        return self.entry.id

    @property
    def whole_image(self) -> bool:
        """Whether the image itself is pending (else only some of its locations are)."""
        return self.entry.status != ACTIVE

    @property
    def reasons(self) -> list[str]:
        """Everything known to block this image before starting."""
        reasons = [self.blocked] if self.blocked else []
        return reasons + [f"location {item.location.id}: {item.blocked}" for item in self.locations if item.blocked]


@dataclass
class Plan:
    """What a run will do: the images in order, and what is known to block each."""

    images: tuple[PlannedImage, ...]
    missing: tuple[tuple[str, str], ...] = ()

    def hand_over(self) -> tuple[PlannedImage, ...]:
        """The images, for the run that applies the plan, which keeps them no longer than their
        batch: the plan itself is left empty, so that an image's plan is freed once its result is
        recorded (a run's peak memory is then its plan's or its results', not both)."""
        images, self.images = self.images, ()
        return images

    @property
    def bytes_to_erase(self) -> int:
        """The bytes of data the plan erases: every location not known to be blocked (of a blocked
        image too: its other locations are erased), each at the image's size as Glance recorded it.
        The results count the same locations, at the size each deleter found."""
        return sum(
            item.entry.size or 0
            for item in self.images
            if not item.blocked
            for location in item.locations
            if not location.blocked
        )

    @property
    def blocked_count(self) -> int:
        """How many images are known to be blocked before starting."""
        return sum(1 for item in self.images if item.reasons)

    @property
    def to_scrub_count(self) -> int:
        """How many images would be scrubbed: those not known to be blocked."""
        return len(self.images) - self.blocked_count

    @property
    def locations_of_blocked_images_to_erase(self) -> int:
        """Locations erased although their image is blocked (by another of its locations)."""
        return sum(
            1
            for item in self.images
            if item.reasons and not item.blocked
            for location in item.locations
            if not location.blocked
        )

    @property
    def images_to_erase(self) -> int:
        """How many images the plan erases data of (what ``--max-delete`` counts): those to scrub, and
        the blocked images some of whose locations are erased all the same."""
        partly = sum(
            1
            for item in self.images
            if item.reasons and not item.blocked and any(not location.blocked for location in item.locations)
        )
        return self.to_scrub_count + partly

    @property
    def erases_anything(self) -> bool:
        """Whether applying the plan would erase (or finalize) anything at all."""
        return self.to_scrub_count > 0 or self.locations_of_blocked_images_to_erase > 0


@dataclass(frozen=True, slots=True)
class LocationResult:
    """What happened to one location."""

    id: int
    url: str
    store: str | None
    outcome: str
    reason: str = ""
    bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON object for this location: its fields, in their order."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class ImageResult:
    """What happened to one image."""

    id: str
    name: str | None
    result: Result
    reason: str
    bytes: int
    locations: tuple[LocationResult, ...]
    whole_image: bool = True
    size: int | None = None  # the image's size as Glance recorded it (``bytes``: what the stores held)

    def __post_init__(self) -> None:
        # Data found already gone is the reason a result erased nothing (or less than the image holds).
        if not self.reason:
            gone = [location.id for location in self.locations if location.outcome == "already_gone"]
            if gone and len(gone) == len(self.locations):
                object.__setattr__(self, "reason", "already gone")
            elif gone:
                object.__setattr__(self, "reason", f"location {', '.join(map(str, gone))} already gone")

    def as_dict(self) -> dict[str, Any]:
        """The JSON object for this image."""
        return {
            "id": self.id,
            "name": self.name,
            "result": self.result.value,
            "reason": self.reason,
            "bytes": self.bytes,
            "size": self.size,
            "scope": "image" if self.whole_image else "locations",
            "locations": [location.as_dict() for location in self.locations],
        }


@dataclass
class Summary:
    """Counts for one run."""

    dry_run: bool
    selected: int = 0
    scrubbed: int = 0
    would_scrub: int = 0
    blocked: int = 0
    failed: int = 0
    taken_by_other_run: int = 0
    not_started: int = 0
    not_found: int = 0  # images named (--image) but not in the queue; counted as blocked too
    bytes_erased: int = 0  # of every location erased, whatever its image's result
    bytes_would_erase: int = 0  # likewise in a dry run
    locations_erased: int = 0
    locations_already_gone: int = 0
    started_at: str = ""
    duration_seconds: float = 0.0
    interrupted: bool = False
    unreachable: list[str] = field(default_factory=list)

    def count(self, result: ImageResult) -> None:
        """Add one image's result (its bytes: those of the locations erased, or that would be)."""
        if self.dry_run:
            self.bytes_would_erase += result.bytes
        else:
            self.bytes_erased += result.bytes
        if result.result is Result.SCRUBBED:
            self.scrubbed += 1
        elif result.result is Result.WOULD_SCRUB:
            self.would_scrub += 1
        elif result.result is Result.BLOCKED:
            self.blocked += 1
        else:
            self.failed += 1
        if not self.dry_run:  # a dry run erases nothing (a location found already gone included)
            self.locations_erased += sum(1 for location in result.locations if location.outcome in ERASED_OUTCOMES)
        self.locations_already_gone += sum(1 for location in result.locations if location.outcome == "already_gone")

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of the summary."""
        return dataclasses.asdict(self)


ERASED_OUTCOMES = frozenset({"erased", "already_gone", "trashed"})


@dataclass
class Report:
    """A run's results, in the order images finished, and its summary."""

    summary: Summary
    images: list[ImageResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all done; 4 done but images were left blocked, nothing failed; 1 something failed, was
        not started or was named but not found; 3 a backend or the database could not be reached."""
        summary = self.summary
        if summary.unreachable:
            return EXIT_ENVIRONMENT
        if summary.failed or summary.not_started or summary.not_found:
            return EXIT_INCOMPLETE
        if summary.blocked:
            return EXIT_BLOCKED
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """The JSON document ``scrub -f json`` prints."""
        return {"summary": self.summary.as_dict(), "images": [image.as_dict() for image in self.images]}


class Observer(Protocol):
    """Receives progress from the engine (called from worker threads)."""

    def image_started(self, image: PlannedImage) -> None:
        """Work on ``image`` begins."""

    def location_started(self, image: PlannedImage, location: Location) -> None:
        """Erasing one location of ``image`` begins."""

    def location_progress(self, image: PlannedImage, location: Location, progress: EraseProgress) -> None:
        """The erase of ``location`` has come this far (from the deleter's threads; only deleters
        that report progress call it)."""

    def image_finished(self, result: ImageResult) -> None:
        """``result`` is final (recorded in the database, or would be in a dry run)."""


class NullObserver:
    """An observer that ignores everything."""

    def image_started(self, image: PlannedImage) -> None:
        """Ignore."""

    def location_started(self, image: PlannedImage, location: Location) -> None:
        """Ignore."""

    def location_progress(self, image: PlannedImage, location: Location, progress: EraseProgress) -> None:
        """Ignore."""

    def image_finished(self, result: ImageResult) -> None:
        """Ignore."""


@dataclass(frozen=True)
class RunOptions:
    """How to apply a plan."""

    dry_run: bool
    concurrency: int = 1
    batch_size: int | None = None
