"""What Glance's rows need: location rows matched to listed data by normalised key, and image rows
that protect data named by their id.

A location row needs its data unless the row is ``deleted`` and so is its image (a ``pending_delete``
row waits for the scrubber; a row of an image that is not deleted may still be brought back). An image
row that is not ``deleted``, ``pending_delete`` or ``killed`` protects data named by its id.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement, Connection, case, or_, select

from scrubctl.backends.inventory import STAGING, Inventory, StoredPiece
from scrubctl.glance.locations import LocationDecoder, store_name_from_metadata, url_scheme
from scrubctl.glance.schema import DELETED, image_locations, images
from scrubctl.glance.servers import server_kind
from scrubctl.orphans.catalogue import Catalogue
from scrubctl.orphans.location_rows import LocationRows, RowChunk
from scrubctl.orphans.stores import ScannedStore
from scrubctl.settings.config import Settings, StoreConfig

CHUNK = 1000
PARALLEL_LOOKUPS = 200  # images per reader at least, when a scan looks up statuses on several connections
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def named_image_id(piece: StoredPiece) -> str | None:
    """The image id a piece's name carries (``<id>``, or ``<id>.<ext>`` in staging), if any."""
    name = piece.name.split(".", 1)[0] if piece.area == STAGING else piece.name
    return name if _UUID.fullmatch(name) else None


@dataclass
class RowUse:
    """How location rows use the wanted keys (those needed are taken out of the wanted ones)."""

    needed: set[str] = field(default_factory=set)  # a re-check's; a scan drops them from its catalogue
    deleted_only: dict[str, set[str]] = field(default_factory=dict)  # key -> images of its deleted rows
    undecryptable: int = 0
    rows: int = 0


class KeyMaker:
    """Turns a location row into the keys of the listed pieces it needs, by asking the inventories of
    the stores scanned (:meth:`~scrubctl.backends.inventory.Inventory.location_keys`); stores are
    resolved once per name and scheme. A row whose scheme no scanned inventory reads yields no key."""

    def __init__(self, settings: Settings, decoder: LocationDecoder) -> None:
        self._settings = settings
        self._decoder = decoder
        self._stores: dict[tuple[str | None, str], StoreConfig | None] = {}
        self._readers: dict[str, list[Inventory]] = {}

    def read_by(self, stores: Iterable[ScannedStore]) -> None:
        """Match rows with the inventories of ``stores`` (each for every scheme its deleter reads);
        a scan calls it with the stores it lists, before looking at any row."""
        for scanned in stores:
            for scheme in scanned.row_schemes:
                readers = self._readers.setdefault(scheme, [])
                if all(reader is not scanned.inventory for reader in readers):
                    readers.append(scanned.inventory)

    def reads(self, scheme: str) -> bool:
        """Whether an inventory matches the rows of ``scheme``."""
        return scheme in self._readers

    def key(self, value: str, meta_data: str | None) -> tuple[tuple[str, ...], bool]:
        """``(keys, decrypted)``: the keys of the listed pieces a stored location value needs (none for
        a URL no scanned store holds), and whether the value could be read at all."""
        url, _encrypted, problem = self._decoder.decrypt(value)
        if url is None or problem is not None:
            return (), False
        scheme = url_scheme(url) or ""
        found: list[str] = []
        for reader in self._readers.get(scheme, ()):
            store = None
            if reader.needs_store(url):
                name, _problem = store_name_from_metadata(meta_data)
                store = self._store(name, scheme)
            found.extend(reader.location_keys(url, store))
        return tuple(found), True

    def decrypt(self, value: str) -> tuple[str | None, bool, str | None]:
        """Decrypt a stored value (see :meth:`LocationDecoder.decrypt`)."""
        return self._decoder.decrypt(value)

    def key_of(self, url: str, names: Collection[str]) -> tuple[str, ...] | None:
        """The keys of a decrypted URL that may name one of ``names`` (``()`` when it certainly names
        none), or ``None`` when its store is needed (the row's ``meta_data`` must be read)."""
        readers = self._readers.get(url_scheme(url) or "", ())
        if not any(reader.may_name(url, names) for reader in readers):
            return ()
        if any(reader.needs_store(url) for reader in readers):
            return None
        return tuple(key for reader in readers for key in reader.location_keys(url, None))

    def named_by_last_component(self) -> tuple[str, ...]:
        """The URL beginnings every reader of their scheme names by the last component (see
        :meth:`~scrubctl.backends.inventory.Inventory.named_by_last_component`)."""
        readers = [reader for scheme_readers in self._readers.values() for reader in scheme_readers]
        offered = {prefix for reader in readers for prefix in reader.named_by_last_component()}
        return tuple(
            sorted(
                prefix
                for prefix in offered
                if all(prefix in reader.named_by_last_component() for reader in self._readers.get(_scheme(prefix), ()))
            )
        )

    def _store(self, name: str | None, scheme: str) -> StoreConfig | None:
        cached = (name, scheme)
        if cached not in self._stores:
            try:
                self._stores[cached] = self._settings.store(name, scheme)
            except LookupError:
                self._stores[cached] = None
        return self._stores[cached]


def _scheme(prefix: str) -> str:
    return prefix.partition("://")[0].lower()


def row_use(connection: Connection, keys: KeyMaker, listed: Catalogue, rows: LocationRows) -> RowUse:
    """Take every location row once from ``rows`` (:mod:`~scrubctl.orphans.location_rows`) and drop
    from ``listed`` every piece a row needs: what is left in it is needed by no row.

    ``listed.by_name`` holds the name of every piece not yet needed (a file name, an RBD image name):
    a plaintext row that its store's inventory names by its last component (``file:///``) and whose
    last component is none of them cannot need listed data and is passed over without parsing; other
    rows are asked of the inventories (:meth:`~scrubctl.backends.inventory.Inventory.may_name` first).
    A row holding exactly the URL Glance would write for a listed piece (the usual case) needs that
    piece, without being parsed. Only the URL and, for rows marked deleted, the image id are read;
    the few rows whose key needs their store (``rbd://<name>``) and that may name a listed piece are
    read again with their ``meta_data``.
    """
    use = RowUse()
    short: list[str] = []
    names = listed.by_name
    lengths = {len(name) for name in names}
    length = lengths.pop() if len(lengths) == 1 else 0
    prefixes = keys.named_by_last_component()
    for rows_read in rows:
        use.rows += len(rows_read.live) + len(rows_read.deleted)
        live, dead = _may_need(rows_read, names, length, prefixes)
        for value in live:
            _look_at(use, keys, listed, short, value, None)
        for line in dead:
            image_id, _tab, value = line.partition("\t")
            _look_at(use, keys, listed, short, value, image_id)
    owner = case((image_locations.c.status == DELETED, image_locations.c.image_id), else_=None)
    for chunk in _chunks(sorted(set(short))):
        again = connection.execute(
            select(image_locations.c.value, image_locations.c.meta_data, owner).where(
                image_locations.c.value.in_(chunk)
            )
        )
        for value, meta_data, deleted_owner in again:
            found, _readable = keys.key(value, meta_data)
            _count_wanted(use, listed, found, deleted_owner)
    _settle(connection, use, listed)
    return use


def _may_need(
    rows_read: RowChunk, names: Collection[str], length: int, prefixes: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """The live values and deleted lines of a chunk that may need listed data.

    Most rows are plaintext file:// URLs, of which only one whose last component is a listed name can
    need listed data (``prefixes``: the URL beginnings named so); every other row is looked at in
    full. (A deleted row's line holds exactly one tab, before its value.) When every listed name has
    the same ``length`` L (image ids), a URL's last L characters stand in for its last component: a
    URL they do not match cannot end in a listed name.
    """
    live, dead = rows_read.live, rows_read.deleted
    if not prefixes:
        return live, dead
    if length:
        live = [value for value in live if value[-length:] in names or not value.startswith(prefixes)]
        dead = [line for line in dead if line[-length:] in names or not line.startswith(prefixes, line.find("\t") + 1)]
        return live, dead
    live = [value for value in live if value.rpartition("/")[2] in names or not value.startswith(prefixes)]
    dead = [
        line for line in dead if line.rpartition("/")[2] in names or not line.startswith(prefixes, line.find("\t") + 1)
    ]
    return live, dead


def _look_at(
    use: RowUse, keys: KeyMaker, listed: Catalogue, short: list[str], value: str, deleted_owner: str | None
) -> None:
    """Count one row's use of a listed key; a row whose key needs its store is put aside in ``short``."""
    listed_key = listed.url_key(value)  # the usual row: exactly a listed piece's URL
    if listed_key is not None:
        _count(use, listed, listed_key, deleted_owner)
        return
    url, _encrypted, _problem = keys.decrypt(value)
    if url is None:
        use.undecryptable += 1
        return
    found = keys.key_of(url, listed.by_name)
    if found is None:
        short.append(value)
    else:
        _count_wanted(use, listed, found, deleted_owner)


def recheck_use(
    connection: Connection, keys: KeyMaker, wanted: Collection[str], texts: Iterable[str], *, encrypted_rows: bool
) -> RowUse:
    """Inside a claim: which of ``wanted`` keys rows need now (``needed``), by one query for the URL
    texts Glance writes for them (``texts``), plus every encrypted row decrypted when a key is configured."""
    use = RowUse()
    remaining = _Keys(wanted, use.needed)
    plain = sorted(set(texts))
    matches: ColumnElement[bool] = image_locations.c.value.in_(plain)
    if encrypted_rows:
        matches = or_(matches, image_locations.c.value.not_like("%://%"))
    owner = case((image_locations.c.status == DELETED, image_locations.c.image_id), else_=None)
    rows = connection.execute(select(image_locations.c.value, image_locations.c.meta_data, owner).where(matches))
    for value, meta_data, deleted_owner in rows:
        found, readable = keys.key(value, meta_data)
        if not readable:
            use.undecryptable += 1
        else:
            _count_wanted(use, remaining, found, deleted_owner)
    _settle(connection, use, remaining)
    return use


class Wanted(Protocol):
    """The keys not yet known to be needed by a row: a scan's :class:`Catalogue`, a re-check's :class:`_Keys`."""

    def __contains__(self, key: object, /) -> bool: ...

    def need(self, key: str) -> None:
        """A row needs ``key``: it is wanted no more."""
        ...


class _Keys:
    """A few keys, those needed moved to ``needed``."""

    def __init__(self, keys: Iterable[str], needed: set[str]) -> None:
        self.remaining = set(keys)
        self.needed = needed

    def __contains__(self, key: object) -> bool:
        return key in self.remaining

    def need(self, key: str) -> None:
        self.remaining.discard(key)
        self.needed.add(key)


def _count_wanted(use: RowUse, wanted: Wanted, found: Iterable[str], deleted_owner: str | None) -> None:
    """Count a row's use of those of its keys that are wanted."""
    for key in found:
        if key in wanted:
            _count(use, wanted, key, deleted_owner)


def _count(use: RowUse, wanted: Wanted, key: str, deleted_owner: str | None) -> None:
    """A row that is not deleted needs its data; a deleted one is noted with its image."""
    if deleted_owner is None:
        wanted.need(key)
        use.deleted_only.pop(key, None)
    elif key in wanted:
        use.deleted_only.setdefault(key, set()).add(deleted_owner)


def _settle(connection: Connection, use: RowUse, wanted: Wanted) -> None:
    """A deleted row of an image that is not deleted still needs its data (the image may come back)."""
    owners = {image_id for ids in use.deleted_only.values() for image_id in ids}
    alive = images_not_deleted(connection, owners)
    for key, ids in list(use.deleted_only.items()):
        if not alive.isdisjoint(ids):
            wanted.need(key)
            del use.deleted_only[key]


def images_not_deleted(connection: Connection, image_ids: Iterable[str]) -> set[str]:
    """Which of ``image_ids`` have a row not marked ``deleted`` (only those come back: most owners
    of deleted location rows are deleted images themselves)."""
    wanted = sorted(set(image_ids))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        statement = select(images.c.id).where(images.c.id.in_(chunk), images.c.status != DELETED)
        found.update(connection.execute(statement).scalars())
    return found


def image_statuses(connection: Connection, image_ids: Iterable[str], *, readers: int = 1) -> dict[str, str]:
    """The status of each image that has a row, in chunks of primary-key lookups: on ``connection``
    (inside its transaction), or, with ``readers`` > 1 on MySQL, spread over that many connections
    of its own at once (a scan's lookups, whose pages the scan has pushed out of the server's cache:
    their waits overlap)."""
    wanted = sorted(set(image_ids))
    parts = min(readers, -(-len(wanted) // PARALLEL_LOOKUPS)) if server_kind(connection).parallel_reads else 1
    if parts <= 1:
        return _statuses(connection, wanted)
    engine = connection.engine

    def read(part: list[str]) -> dict[str, str]:
        with engine.connect() as reader:
            return _statuses(reader, part)

    with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="orphans-statuses") as pool:
        found: dict[str, str] = {}
        for statuses in pool.map(read, [wanted[index::parts] for index in range(parts)]):
            found.update(statuses)
    return found


def _statuses(connection: Connection, image_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(image_ids):
        found.update(connection.execute(select(images.c.id, images.c.status).where(images.c.id.in_(chunk))).all())
    return found


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
