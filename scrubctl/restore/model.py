"""Results and plans of ``scrubctl restore`` (data only)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from scrubctl.backends import DeleterPool
from scrubctl.coordination.claims import DEFAULT_TIMEOUT_SECONDS
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_INCOMPLETE, EXIT_OK
from scrubctl.glance.locations import Location, LocationDecoder
from scrubctl.unattended.audit import AuditTrail

# Rows whose deleted_at lies this close to the image's were deleted together with it.
DELETED_TOGETHER_TOLERANCE = timedelta(seconds=2)
# How long to wait for a scrub holding an image (MySQL/MariaDB named lock).
CLAIM_WAIT_SECONDS = 10

PROPERTIES_NOTE = (
    "properties removed from an image before it was deleted cannot be told apart from the ones deleted "
    "with it (Glance re-stamps every property when it deletes an image), so they come back too: "
    "review the properties of the restored images"
)


class RestoreRefused(Exception):
    """One image cannot be restored; ``str()`` is the reason, ``unreachable`` names a dead backend."""

    def __init__(self, reason: str, *, unreachable: str | None = None) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


@dataclass(frozen=True)
class NotRestorable:
    """Something of the image that does not come back (or is not brought back), and why."""

    kind: str
    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """The JSON object for this item."""
        return {"kind": self.kind, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class RestorePlan:
    """The rows of one claimed image to write back, read and verified inside the claim."""

    image_id: str
    locations: tuple[Location, ...]
    property_ids: tuple[int, ...]
    tag_ids: tuple[int, ...]
    member_ids: tuple[int, ...]
    not_restorable: tuple[NotRestorable, ...]


REFUSED = "refused"  # the result, restore's and broken --repair's, of an image left as it was


class RestoreResult(str, enum.Enum):
    """The result of one image."""

    RESTORED = "restored"
    WOULD_RESTORE = "would_restore"
    REFUSED = REFUSED


ResultT = TypeVar("ResultT", bound=enum.Enum)


@dataclass(frozen=True)
class ImageOutcome(Generic[ResultT]):
    """What happened to one image brought back: the rows restored (or that would be), or why it was
    refused. ``restore`` and ``broken --repair`` each name their results (``ResultT``)."""

    id: str
    result: ResultT
    reason: str = ""
    locations_restored: int = 0
    properties_restored: int = 0
    tags_restored: int = 0
    members_restored: int = 0
    not_restorable: tuple[NotRestorable, ...] = ()
    unreachable: str | None = None

    @property
    def refused(self) -> bool:
        """Whether the image was left as it was."""
        return bool(self.result.value == REFUSED)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object for this image."""
        return {
            "id": self.id,
            "result": self.result.value,
            "reason": self.reason,
            "locations_restored": self.locations_restored,
            "properties_restored": self.properties_restored,
            "tags_restored": self.tags_restored,
            "members_restored": self.members_restored,
            "not_restorable": [item.as_dict() for item in self.not_restorable],
        }


@dataclass(frozen=True)
class ImageRestore(ImageOutcome[RestoreResult]):
    """What ``restore`` did to one image."""


ImageT = TypeVar("ImageT", bound=ImageOutcome[Any])


@dataclass(frozen=True)
class OutcomeReport(Generic[ImageT]):
    """Every image's result, in the order given, and the exit code that follows from them."""

    dry_run: bool
    images: tuple[ImageT, ...]

    def count(self, result: enum.Enum) -> int:
        """How many images ended with ``result``."""
        return sum(1 for image in self.images if image.result is result)

    @property
    def unreachable(self) -> list[str]:
        """The backends or database that could not be reached."""
        return sorted({image.unreachable for image in self.images if image.unreachable})

    @property
    def exit_code(self) -> int:
        """0 all done (or would be); 1 any refused; 3 a backend or the database was unreachable."""
        if self.unreachable:
            return EXIT_ENVIRONMENT
        return EXIT_INCOMPLETE if any(image.refused for image in self.images) else EXIT_OK


@dataclass(frozen=True)
class RestoreReport(OutcomeReport[ImageRestore]):
    """Every image's result of ``restore``."""

    @property
    def notes(self) -> list[str]:
        """What the operator must know about the restored rows."""
        return [PROPERTIES_NOTE] if any(image.properties_restored for image in self.images) else []

    def summary(self) -> dict[str, Any]:
        """The counts of this run."""
        return {
            "dry_run": self.dry_run,
            "selected": len(self.images),
            "restored": self.count(RestoreResult.RESTORED),
            "would_restore": self.count(RestoreResult.WOULD_RESTORE),
            "refused": self.count(RestoreResult.REFUSED),
            "unreachable": self.unreachable,
            "notes": self.notes,
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON document ``restore -f json`` prints."""
        return {"summary": self.summary(), "images": [image.as_dict() for image in self.images]}


@dataclass(frozen=True)
class RestoreTools:
    """What restoring needs besides the database: decoding, backends, the audit trail, timing."""

    decoder: LocationDecoder
    deleters: DeleterPool
    audit: AuditTrail
    wait_seconds: int = CLAIM_WAIT_SECONDS
    claim_timeout: float = DEFAULT_TIMEOUT_SECONDS
    tolerance: timedelta = DELETED_TOGETHER_TOLERANCE
    check_encrypted_sharing: bool = False  # a metadata_encryption_key is set: compare decrypted URLs too
