"""Orphans found by a scan, and the stores scanned (data only)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scrubctl.backends.base import Deleter
from scrubctl.backends.inventory import StoredPiece
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import iso_utc

UNREFERENCED = "unreferenced"  # no location row at all
DELETED_ROWS_ONLY = "deleted_rows_only"  # only rows already marked deleted point at it
PARTIAL_UPLOAD = "partial_upload"  # an RBD image without its snapshot, or the file of a killed upload
TRASH_KIND = "trash"  # an RBD trash entry of a Glance image nothing needs
STAGING_KIND = "staging"  # a leftover in Glance's staging or tasks store
UNLINKED = "unlinked"  # named by an active image that has no location row: never reclaimable
SEGMENTS_KIND = "segments"  # a Swift large object's segments whose manifest is gone
MULTIPART_KIND = "multipart"  # an incomplete S3 multipart upload (glance_store never aborts them)
CACHE_KIND = "cache"  # a file of this node's image cache no usable image needs (orphans/cache.py)
KINDS = (
    UNREFERENCED,
    DELETED_ROWS_ONLY,
    PARTIAL_UPLOAD,
    TRASH_KIND,
    STAGING_KIND,
    UNLINKED,
    SEGMENTS_KIND,
    MULTIPART_KIND,
    CACHE_KIND,
)
# Listing areas whose pieces are an orphan kind of their own (the area's name is the kind's).
AREA_KINDS = frozenset({TRASH_KIND, STAGING_KIND, SEGMENTS_KIND, MULTIPART_KIND})

# Data younger than this is never reclaimed unless --older-than says otherwise: an upload, an import
# or a copy-image task running for hours has its row in queued/saving/importing (protected anyway),
# but a task whose row is written only at the end (copy-image's revert) must be left to finish.
DEFAULT_MIN_AGE = timedelta(days=7)

# Glance statuses of an upload or import in flight: data named by such an image is never an orphan.
IN_FLIGHT = frozenset({"queued", "saving", "importing", "uploading"})
# Image statuses whose data named by their id is not protected by the id (only by location rows).
UNPROTECTED_BY_ID = frozenset({"deleted", "pending_delete", "killed"})


def claim_subject(image_id: str | None, key: str) -> str:
    """The claim subject of a piece: its image id (so restore, repair and reclaim of that image exclude
    one another), else a short hash of its normalised key."""
    return image_id or "orphan:" + hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Orphan:
    """One piece of data no location row needs (or, kind ``unlinked``, that only an image id names)."""

    store: StoreConfig
    scheme: str
    piece: StoredPiece
    image_id: str | None
    kind: str
    bytes: int | None
    created_at: datetime | None
    age_seconds: float | None
    blockers: tuple[str, ...]
    too_young: bool = False
    deleter: Deleter | None = field(default=None, repr=False, compare=False)

    @property
    def reclaimable(self) -> bool:
        """Whether ``--reclaim`` may erase it (nothing blocks it, and it is not ``unlinked``)."""
        return self.kind != UNLINKED and not self.blockers

    @property
    def url(self) -> str:
        """The URL as Glance would write it, userinfo masked."""
        return mask_url(self.piece.url)

    @property
    def subject(self) -> str:
        """The claim subject while it is reclaimed."""
        return claim_subject(self.image_id, self.piece.key)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``orphans -f json``."""
        return {
            "store": self.store.label,
            "scheme": self.scheme,
            "url": self.url,
            "image_id": self.image_id,
            "bytes": self.bytes,
            "created_at": iso_utc(self.created_at),
            "age_seconds": None if self.age_seconds is None else int(self.age_seconds),
            "kind": self.kind,
            "reclaimable": self.reclaimable,
            "blockers": list(self.blockers),
        }


@dataclass(frozen=True)
class StoreScan:
    """One configured store: scanned, or why not."""

    label: str
    driver: str
    scanned: bool
    reason: str = ""
    pieces: int = 0
    unreachable: bool = False


@dataclass
class OrphanScan:
    """What a scan found: the orphans (store, kind, URL order) and every store's scan."""

    orphans: list[Orphan] = field(default_factory=list)
    stores: list[StoreScan] = field(default_factory=list)
    cutoff: datetime | None = None
    rows_scanned: int = 0

    @property
    def not_scanned(self) -> list[StoreScan]:
        """The stores that could not be listed."""
        return [store for store in self.stores if not store.scanned]
