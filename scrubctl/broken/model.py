"""Broken images as a scan finds them (data only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scrubctl.backends.inventory import StoredPiece
from scrubctl.orphans.stores import ScannedStore

RESTORED_WITHOUT_LOCATIONS = "restored_without_locations"  # what glance-scrubber --restore leaves
UNLINKED = "unlinked"  # no location row at all, but data named by its id in a store
DATA_MISSING = "data_missing"  # a live location whose data is gone (or no row and no data)
DELETED_AT_SET = "deleted_at_set"  # active but deleted_at set: db purge can hard-delete it
REPAIRABLE_PROBLEMS = frozenset({RESTORED_WITHOUT_LOCATIONS, UNLINKED, DELETED_AT_SET})
USABLE = ("active", "deactivated")


@dataclass(frozen=True)
class FoundData:
    """Data named by an image's id in a scanned store."""

    scanned: ScannedStore
    piece: StoredPiece


@dataclass(frozen=True)
class BrokenImage:
    """One problem of one image."""

    id: str
    name: str | None
    status: str
    problem: str
    detail: str
    repairable: bool
    locations: tuple[dict[str, Any], ...] = ()
    found: tuple[FoundData, ...] = field(default=(), compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``broken -f json``."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "problem": self.problem,
            "detail": self.detail,
            "repairable": self.repairable,
            "locations": list(self.locations),
        }
