"""What an orphan scan keeps of its listings while it reads the location rows: little per piece.

A store lists hundreds of thousands of pieces, and each :class:`~scrubctl.backends.inventory.StoredPiece`
with its URL and key costs about 0.4 KB. Nearly all of them turn out to be needed by a row, so the
scan keeps of each piece only its name (one string, in one dict). Everything else a piece carries is
shared by many: its URL and key are ``<prefix><name><suffix>`` with the same prefixes and suffixes
for a whole container or directory, and its area, trash id and time are mostly the same too. That
shared part is a :class:`Shape`, made once; a piece is rebuilt from its name and its shape, exactly
as listed, only when no row needs it. A piece whose URL or key does not hold its name is kept whole.

A row's URL or key is matched by taking the prefixes (grouped by length, a few) off it, looking up
the name left and checking that the name was listed with that shape: a match is exact, never a
guess. A piece is dropped as soon as a row needs it (:meth:`Catalogue.need`): what is left at the
end is what no row needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from scrubctl.backends.inventory import StoredPiece
from scrubctl.orphans.stores import ScannedStore


class Shape:
    """What the listed pieces of one store, area and URL form share: their URL is ``url_prefix +
    name + url_suffix``, their key ``key_prefix + name + key_suffix``."""

    __slots__ = ("area", "deleted_at", "key_prefix", "key_suffix", "scanned", "trash_id", "url_prefix", "url_suffix")

    def __init__(self, scanned: ScannedStore, parts: tuple[str, str, str, str], piece: StoredPiece) -> None:
        self.scanned = scanned
        self.url_prefix, self.url_suffix, self.key_prefix, self.key_suffix = parts
        self.area, self.trash_id, self.deleted_at = piece.area, piece.trash_id, piece.deleted_at

    def piece(self, name: str) -> StoredPiece:
        """The piece of this shape named ``name``, as it was listed."""
        url = self.url_prefix + name + self.url_suffix
        key = self.key_prefix + name + self.key_suffix
        return StoredPiece(url, key, name, self.area, self.trash_id, self.deleted_at)


class Whole:
    """A listed piece kept as it is (its URL or key does not hold its name)."""

    __slots__ = ("scanned", "stored")

    def __init__(self, scanned: ScannedStore, stored: StoredPiece) -> None:
        self.scanned, self.stored = scanned, stored

    def piece(self, _name: str) -> StoredPiece:
        """The piece as listed."""
        return self.stored


Item = Shape | Whole
Entry = Shape | Whole | tuple[Item, ...]  # one item, or the few that share a name


class _Forms:
    """Shapes by the prefix of their URL (or key), for taking a name out of a text."""

    def __init__(self) -> None:
        self.by_prefix: dict[str, tuple[Shape, ...]] = {}
        self.lengths: tuple[int, ...] = ()

    def add(self, prefix: str, shape: Shape) -> None:
        self.by_prefix[prefix] = (*self.by_prefix.get(prefix, ()), shape)
        if len(prefix) not in self.lengths:
            self.lengths = tuple(sorted((*self.lengths, len(prefix))))

    def held(self, text: str, url: bool, by_name: dict[str, Entry]) -> list[tuple[Shape, str]]:
        """Each ``(shape, name)`` still held whose URL (or key) is exactly ``text``."""
        found = []
        for length in self.lengths:
            for shape in self.by_prefix.get(text[:length], ()):
                suffix = shape.url_suffix if url else shape.key_suffix
                end = len(text) - len(suffix)
                if end >= length and text.endswith(suffix):
                    name = text[length:end]
                    entry = by_name.get(name)
                    if entry is shape or (isinstance(entry, tuple) and shape in entry):
                        found.append((shape, name))
        return found


class Catalogue:
    """The pieces listed and not yet known to be needed, by name (see the module docstring)."""

    def __init__(self) -> None:
        self.by_name: dict[str, Entry] = {}
        self._shapes: dict[tuple[object, ...], Shape] = {}
        self._urls, self._keys = _Forms(), _Forms()
        self._whole_urls: dict[str, str] = {}  # URL -> key of the pieces kept whole
        self._whole_keys: dict[str, list[Whole]] = {}
        self._matched: tuple[str, Shape, str] | None = None  # the last URL matched
        self._crowded: set[tuple[str, str]] | None = None  # key forms that more than one shape has

    def add(self, scanned: ScannedStore, piece: StoredPiece) -> None:
        """Keep one listed piece."""
        item = self._item(scanned, piece)
        name = piece.name
        entry = self.by_name.get(name)
        if entry is None:
            self.by_name[name] = item
        elif isinstance(entry, tuple):
            if item not in entry:
                self.by_name[name] = (*entry, item)
        elif entry is not item:
            self.by_name[name] = (entry, item)

    def _item(self, scanned: ScannedStore, piece: StoredPiece) -> Item:
        name, url, key = piece.name, piece.url, piece.key
        at_url, at_key = url.rfind(name), key.rfind(name)
        if not name or at_url < 0 or at_key < 0:
            whole = Whole(scanned, piece)
            self._whole_urls[url] = key if self._whole_urls.get(url, key) == key else ""  # "": several keys
            self._whole_keys.setdefault(key, []).append(whole)
            return whole
        parts = (url[:at_url], url[at_url + len(name) :], key[:at_key], key[at_key + len(name) :])
        known = (id(scanned), *parts, piece.area, piece.trash_id, piece.deleted_at)
        shape = self._shapes.get(known)
        if shape is None:
            shape = self._shapes[known] = Shape(scanned, parts, piece)
            self._crowded = None
            self._urls.add(shape.url_prefix, shape)
            self._keys.add(shape.key_prefix, shape)
        return shape

    def url_key(self, url: str) -> str | None:
        """The key of the pieces not yet needed whose URL is exactly ``url``; ``None`` when there are
        none, or when they carry different keys (the row is then parsed, and yields them all)."""
        held = self._urls.held(url, True, self.by_name)
        whole = self._whole_urls.get(url) if self._whole_urls else None
        if whole and whole not in self._whole_keys:
            whole = None  # the pieces of that key are needed already ("" stands for several keys)
        if len(held) == 1 and whole is None:
            shape, name = held[0]
            key = shape.key_prefix + name + shape.key_suffix
            self._matched = (key, shape, name)  # for need(key), which most often follows
            return key
        keys = {shape.key_prefix + name + shape.key_suffix for shape, name in held}
        if whole is not None:
            keys.add(whole)
        return keys.pop() if len(keys) == 1 and "" not in keys else None

    def __contains__(self, key: object) -> bool:
        """Whether a piece not yet needed carries ``key``."""
        if not isinstance(key, str):
            return False
        return key in self._whole_keys or bool(self._keys.held(key, False, self.by_name))

    def need(self, key: str) -> None:
        """A row needs the pieces of ``key``: drop them."""
        matched, self._matched = self._matched, None
        if matched is not None and matched[0] is key and self._alone(matched[1]):
            self._drop(matched[2], matched[1])  # the only piece that key can name among the shaped ones
        else:
            for shape, name in self._keys.held(key, False, self.by_name):
                self._drop(name, shape)
        for whole in self._whole_keys.pop(key, ()):
            self._drop(whole.stored.name, whole)

    def _alone(self, shape: Shape) -> bool:
        """Whether no other shape can make a key this one makes (its key prefix and suffix are not
        compatible with any other's): a key it makes then names only ``(shape, name)``."""
        if self._crowded is None:
            counted = Counter((shape.key_prefix, shape.key_suffix) for shape in self._shapes.values())
            crowded = {form for form, shapes in counted.items() if shapes > 1}
            forms = list(counted)
            for index, form in enumerate(forms):
                for other in forms[index + 1 :]:
                    if _compatible(form, other):
                        crowded.update((form, other))
            self._crowded = crowded
        return (shape.key_prefix, shape.key_suffix) not in self._crowded

    def _drop(self, name: str, item: Item) -> None:
        """Forget ``item`` under ``name`` (nothing when it is not there)."""
        entry = self.by_name.get(name)
        if entry is item:
            del self.by_name[name]
        elif isinstance(entry, tuple) and item in entry:
            left = tuple(other for other in entry if other is not item)
            self.by_name[name] = left[0] if len(left) == 1 else left

    def forget(self, scanned: ScannedStore) -> None:
        """Drop every piece of ``scanned`` (a store whose listing failed part way)."""
        for name, entry in list(self.by_name.items()):
            for item in entry if isinstance(entry, tuple) else (entry,):
                if item.scanned is scanned:
                    self._drop(name, item)
        for key, wholes in list(self._whole_keys.items()):
            kept = [whole for whole in wholes if whole.scanned is not scanned]
            if kept:
                self._whole_keys[key] = kept
            else:
                del self._whole_keys[key]

    def left(self) -> Iterator[tuple[ScannedStore, StoredPiece]]:
        """Every piece no row has needed, rebuilt as listed."""
        for name, entry in self.by_name.items():
            for item in entry if isinstance(entry, tuple) else (entry,):
                yield item.scanned, item.piece(name)

    def __len__(self) -> int:
        return len(self.by_name)


def _compatible(form: tuple[str, str], other: tuple[str, str]) -> bool:
    """Whether two key forms (prefix, suffix) may make the same key with some names."""
    prefixes = form[0].startswith(other[0]) or other[0].startswith(form[0])
    return prefixes and (form[1].endswith(other[1]) or other[1].endswith(form[1]))
