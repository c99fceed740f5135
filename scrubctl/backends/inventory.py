"""The optional inventory a deleter may also offer: listing its store, and looking closer at one piece.

``scrubctl orphans`` and ``scrubctl broken`` compare what a store holds with Glance's location rows.
A deleter that implements :class:`Inventory` lists its store in one pass (one directory listing,
one ``RBD.list2`` and one ``trash_list`` per pool) and is asked for details (size, age, whether an
upload finished, what depends on it) only for the few pieces no row needs. Deleters without it are
named as not scanned.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

from scrubctl.backends.base import EraseResult

DATA = "data"
TRASH = "trash"
STAGING = "staging"


class StoredPiece(NamedTuple):
    """One piece of data a store holds, as its listing names it (a named tuple: a listing makes
    one per file or image, often hundreds of thousands).

    ``url`` is the location URL Glance would write for it in this store; ``key`` the normalised
    form location rows are compared by (see :mod:`scrubctl.orphans.keys`); ``name`` its name in the
    store (a file name, an RBD image name), which is an image id when Glance wrote it; ``area`` is
    :data:`DATA`, :data:`TRASH` (an RBD trash entry, ``trash_id`` set) or :data:`STAGING`.
    """

    url: str
    key: str
    name: str
    area: str = DATA
    trash_id: str | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Examined:
    """What a closer look at one piece found (changes nothing)."""

    exists: bool
    bytes: int | None = None
    created_at: datetime | None = None
    last_activity: datetime | None = None
    partial: bool = False
    blockers: tuple[str, ...] = field(default=())


@runtime_checkable
class Inventory(Protocol):
    """A deleter that can list its store and look closer at pieces of it."""

    def inventory(self) -> Iterator[StoredPiece]:
        """List every piece of data in the store in one pass (and the RBD trash, where there is one)."""
        ...

    def examine(self, piece: StoredPiece) -> Examined:
        """Look at one piece read-only: size, times, whether it is a partial upload, what blocks erasing it."""
        ...

    def read_chunks(self, url: str) -> Iterator[bytes]:
        """Read the data behind ``url`` from its start, in chunks (to verify checksums)."""
        ...

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        """Erase one listed piece (the deleter's own :meth:`erase` for data; an RBD trash entry by its
        id); with ``dry_run``, check everything and erase nothing."""
        ...

    def scope(self) -> tuple[str, ...]:
        """The key prefixes :meth:`inventory` lists in full (a key under one of them that the listing
        lacks is data that is not there)."""
        ...


# -- normalised keys: location rows and listed pieces are compared by these, never by raw text --------

RBD_DEFAULT_POOL = "images"


@functools.lru_cache(maxsize=4096)
def real_directory(directory: str) -> str:
    """The real path of a directory (cached: location rows share a handful of directories)."""
    return os.path.realpath(directory)


def file_key(path: str) -> str:
    """``file:<real directory>/<name>``: the file a path names, whatever symlinked alias of its
    directory, doubled slash or ``.`` the row was written with."""
    directory, _, name = path.rpartition("/")
    return f"file:{real_directory(directory or '/')}/{name}"


def rbd_key(pool: str, image: str) -> str:
    """``rbd:<pool>/<image>``: the RBD image a location names (the snapshot and fsid are ignored, so a
    row naming another cluster's fsid still protects a same-named image here: never a false orphan)."""
    return f"rbd:{pool}/{image}"
