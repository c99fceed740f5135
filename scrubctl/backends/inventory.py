"""The optional inventory a deleter may also offer: listing its store, and looking closer at one piece.

``scrubctl orphans`` and ``scrubctl broken`` compare what a store holds with Glance's location rows.
A deleter that implements :class:`Inventory` lists its store in one pass (one directory listing,
one ``RBD.list2`` and one ``trash_list`` per pool) and is asked for details (size, age, whether an
upload finished, what depends on it) only for the few pieces no row needs. It also says which
location rows need each piece it lists (:meth:`Inventory.location_keys`), so that ``orphans`` and
``broken`` know no store kind by name: a new store's inventory is matched by rows as file and rbd
are. Deleters without it are named as not scanned.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

from scrubctl.backends.base import EraseResult, LocationBlocked
from scrubctl.settings.config import StoreConfig

DATA = "data"
TRASH = "trash"
STAGING = "staging"


class StoredPiece(NamedTuple):
    """One piece of data a store holds, as its listing names it (a named tuple: a listing makes
    one per file or image, often hundreds of thousands).

    ``url`` is the location URL Glance would write for it in this store; ``key`` the normalised
    form location rows are compared by (one of the keys :meth:`Inventory.location_keys` gives for
    every URL that names it); ``name`` its name in the store (a file name, an RBD image name), which
    is an image id when Glance wrote it; ``area`` is :data:`DATA`, :data:`TRASH` (an RBD trash
    entry, ``trash_id`` set) or :data:`STAGING`.
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

    @property
    def last_written(self) -> datetime | None:
        """When the piece was last written: its last activity, else its creation (``None``: unknown)."""
        return self.last_activity or self.created_at


@runtime_checkable
class Inventory(Protocol):
    """A deleter that can list its store, look closer at pieces of it, and say which location rows
    need each piece it lists.

    The contract (checked by :class:`scrubctl.testing.inventory_contract.InventoryContract`, which
    every inventory's tests rerun):

    * **Keys.** Every listed piece carries a normalised ``key``; a location row needs a piece when
      :meth:`location_keys` of the row's decrypted URL contains that piece's key. Several pieces may
      carry the same key (an object store listing a large object's manifest and its segments as
      separate pieces gives them all the manifest's key: one row then needs them all); a piece carries
      exactly one key, and a URL may yield several (every piece it may name, when unsure).
    * **Never a false orphan.** When in doubt, a URL yields the key (or more keys than needed): a key
      too many keeps data, a key missing erases data an image still needs. ``location_keys(piece.url,
      store)`` contains ``piece.key`` for every listed piece, and so do the keys of every text of
      :meth:`location_texts`.
    * **Cheap where rows are many.** :meth:`named_by_last_component` and :meth:`may_name` let the caller
      pass over, unparsed, the rows that cannot name any listed piece (a million rows, a few hundred
      thousand pieces); they may keep a row that names nothing, never drop one that names a piece.

    * **Closer looks in parallel (optional).** An inventory whose :meth:`examine` is a network round
      trip and may be called from several threads at once says how many with the class attribute
      ``examine_threads`` (Swift and S3: 4); without it, the pieces no row needs are examined one at
      a time.

    ``orphans`` and ``broken`` hold no per-scheme code: they find the inventories that read a row's
    URL scheme through the deleter registry (schemes served by one deleter share its inventories)
    and ask them.
    """

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
        lacks is data that is not there); empty when there is nothing to list (a missing directory)."""
        ...

    # -- matching: which location rows need the pieces listed --------------------------------

    def location_keys(self, url: str, store: StoreConfig | None) -> tuple[str, ...]:
        """The keys of the data a decrypted location URL names in this store, or ``()`` when it names
        nothing this store holds (another store, another scheme, a URL that cannot be read).

        ``store`` is the store the row names in its ``meta_data`` (or the single-store settings),
        ``None`` when it names none configured here; it is read only for URLs that
        :meth:`needs_store` (``rbd://<image>``: its pool is its store's). The URL's scheme may be in
        any case (glance_store reads ``FILE:///...`` as ``file``). The answer depends on the URL,
        ``store`` and this store's own configuration, never on what is stored now: it is asked
        again inside a reclaim's claim."""
        ...

    def needs_store(self, url: str) -> bool:
        """Whether the URL alone is not enough for :meth:`location_keys`, which then needs the row's
        store (the caller reads the row's ``meta_data`` again, for those rows only)."""
        ...

    def named_by_last_component(self) -> tuple[str, ...]:
        """URL beginnings (as Glance writes them, e.g. ``file:///``) of plaintext rows that can name a
        listed piece only by their last ``/``-separated component being that piece's ``name``: a row
        beginning so whose last component is no listed name is passed over without being parsed.
        ``()`` when no such promise holds (an ``rbd://`` URL ends with its snapshot). Pieces that share
        a key (a large object's segments) then carry the name rows end with (the manifest's), or the
        inventory makes no such promise."""
        ...

    def may_name(self, url: str, names: Collection[str]) -> bool:
        """Whether a plaintext URL of this store's schemes could name a piece whose ``name`` is in
        ``names`` (cheap, without resolving anything); ``False`` only when it certainly names none."""
        ...

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        """The plaintext URL texts Glance writes for a listed piece (``piece.url`` first, then the short
        forms): a reclaim re-checks, inside its claim, the rows holding exactly these texts (and every
        encrypted row), so each of them must yield ``piece.key``."""
        ...


def last_component(url: str) -> str:
    """The last ``/``-separated component of a URL (what :meth:`Inventory.named_by_last_component`
    compares with the listed names)."""
    return url.rpartition("/")[2]


class NamedInFull:
    """Matching shared by stores whose every location URL names its piece in full, the piece's name
    last (object stores: a bucket or container and a key). ``plain_prefixes`` are the URL prefixes of
    the schemes the store reads; :meth:`piece_key` reads a URL's key."""

    plain_prefixes: tuple[str, ...] = ()

    def piece_key(self, url: str) -> str:
        """The key of the piece ``url`` names, whatever its form; :class:`LocationBlocked` when the URL
        cannot be read."""
        raise NotImplementedError

    def location_keys(self, url: str, store: StoreConfig | None) -> tuple[str, ...]:
        """The key of the piece the URL names (nothing for a URL that cannot be read)."""
        try:
            return (self.piece_key(url),)
        except LocationBlocked:
            return ()

    def needs_store(self, url: str) -> bool:
        """Never: the URL alone says where the data is."""
        return False

    def named_by_last_component(self) -> tuple[str, ...]:
        """Every scheme of the store: the piece's name is a URL's last component."""
        return self.plain_prefixes

    def may_name(self, url: str, names: Collection[str]) -> bool:
        """Whether the URL's last component is a listed name."""
        return last_component(url) in names
