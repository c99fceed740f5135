"""Plain data views of core results: the JSON contract and the cells of human tables.

Nothing here imports rich; :mod:`scrubctl.output.renderer` decides how these values look.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.file import data_directories, path_from_url
from scrubctl.backends.rbd.urls import DEFAULT_POOL as RBD_DEFAULT_POOL
from scrubctl.backends.rbd.urls import parse_url
from scrubctl.glance.locations import Location
from scrubctl.glance.pending import ImageEntry
from scrubctl.glance.schema import ACTIVE
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import iso_utc


class Lines(tuple[str, ...]):
    """Several values shown in one table cell, one per line (each escaped on its own line by the
    renderer, so that a newline inside a value never starts a line of its own)."""

    __slots__ = ()


@dataclass(frozen=True)
class Column:
    """One output column: its name (for ``-c``), its header, and how to get its value."""

    name: str
    header: str
    value: Callable[[dict[str, Any]], Any]
    human: Callable[[dict[str, Any]], str | Lines]


def location_view(location: Location) -> dict[str, Any]:
    """The JSON object of one location (URL decrypted, userinfo masked)."""
    return {
        "id": location.id,
        "url": location.shown_url,
        "store": location.store_label,
        "scheme": location.scheme,
        "status": location.status,
        "encrypted": location.encrypted,
        "deleted_at": iso_utc(location.deleted_at),
        "problem": None if location.problem is None else mask_url(location.problem),
    }


# The columns of an image's row that its JSON object in ``list-pending`` shows as they are, first.
IMAGE_ROW_FIELDS = ("id", "name", "owner", "size", "status", "visibility")


def image_view(entry: ImageEntry) -> dict[str, Any]:
    """The JSON object of one image in ``list-pending``: its row's own columns, then what the queue
    knows of it."""
    return {
        **{name: getattr(entry, name) for name in IMAGE_ROW_FIELDS},
        "pending": "locations" if entry.status == ACTIVE else "image",
        "deleted_at": iso_utc(entry.pending_since),
        "age_seconds": None if entry.age_seconds is None else int(entry.age_seconds),
        "due": entry.due,
        "locations": [location_view(location) for location in entry.locations],
        "blockers": [mask_url(flag) for flag in entry.flags],
        "_locations": entry.locations,  # for the table's compact cell; not a column
    }


def human_size(size: int | None) -> str:
    """Format a byte count like ``1.5 GiB``; ``-`` when unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def human_age(seconds: float | int | None) -> str:
    """Format an age like ``3d 4h`` or ``12m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    remaining = int(seconds)
    if remaining < 0:
        return "in the future"
    parts: list[str] = []
    for unit, length in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if remaining >= length:
            parts.append(f"{remaining // length}{unit}")
            remaining %= length
        if len(parts) == 2:
            break
    return " ".join(parts) if parts else f"{remaining}s"


def human_duration(seconds: float) -> str:
    """Format how long a run took: milliseconds under ten seconds (``412 ms``), else seconds with one
    decimal (``12.3 s``)."""
    if seconds < 10:
        return f"{round(seconds * 1000)} ms"
    return f"{seconds:.1f} s"


def one_line(text: str) -> str:
    """A value on one line of ``-f value`` (one record per line): line breaks written as ``\\n``."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def flattened(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` for every scalar inside ``value``."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from flattened(f"{key}.{name}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from flattened(f"{key}.{index}", item)
        if not value:
            yield key, None  # an empty list (no blockers, no tags) still names its key
    else:
        yield key, value


def compact_location(location: Location) -> str:
    """Where a location's data lies, in few characters: ``store:path`` with the path inside the
    store's data directory (``fast:<image id>``), or the RBD image (and snapshot) inside the store's
    pool (``ceph:<image id>@snap``; ``pool/...`` when the URL names another pool). Other schemes, and
    paths outside the store, keep their (masked) URL or full path."""
    store = location.store_label or "?"
    url = location.url
    if url is None:
        return f"{store}:{location.shown_url}"
    try:
        if location.scheme == "file" and location.store is not None:
            return f"{store}:{_within_data_directory(path_from_url(url), location.store)}"
        if location.scheme == "rbd":
            parsed = parse_url(url)
            name = parsed.image + (f"@{parsed.snapshot}" if parsed.snapshot else "")
            pool = location.store.get("rbd_store_pool") if location.store is not None else None
            if parsed.pool and parsed.pool != (pool or RBD_DEFAULT_POOL):
                name = f"{parsed.pool}/{name}"
            return f"{store}:{name}"
    except LocationBlocked:
        pass
    return f"{store}:{location.shown_url}"


def _within_data_directory(path: str, store: StoreConfig) -> str:
    for directory in data_directories(store):
        prefix = str(directory).rstrip("/") + "/"
        if path.startswith(prefix) and len(path) > len(prefix):
            return path[len(prefix) :]
    return path


def _locations_cell(view: dict[str, Any]) -> str | Lines:
    return Lines(mask_url(compact_location(location)) for location in view["_locations"]) or "-"


def _stores(view: dict[str, Any]) -> list[str]:
    return [item["store"] or "?" for item in view["locations"]]


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


PENDING_COLUMNS = (
    Column("id", "ID", lambda view: view["id"], lambda view: view["id"]),
    Column("name", "Name", lambda view: view["name"], lambda view: _text(view["name"])),
    Column("owner", "Owner", lambda view: view["owner"], lambda view: _text(view["owner"])),
    Column("size", "Size", lambda view: view["size"], lambda view: human_size(view["size"])),
    Column("status", "Status", lambda view: view["status"], lambda view: view["status"]),
    Column("visibility", "Visibility", lambda view: view["visibility"], lambda view: view["visibility"]),
    Column("deleted_at", "Deleted at", lambda view: view["deleted_at"], lambda view: _text(view["deleted_at"])),
    Column("age_seconds", "Age", lambda view: view["age_seconds"], lambda view: human_age(view["age_seconds"])),
    Column("due", "Due", lambda view: view["due"], lambda view: "yes" if view["due"] else "no"),
    Column("pending", "Pending", lambda view: view["pending"], lambda view: view["pending"]),
    Column("stores", "Stores", _stores, lambda view: Lines(_stores(view)) or "-"),
    Column("locations", "Locations", lambda view: view["locations"], _locations_cell),
    Column("blockers", "Blocked by", lambda view: view["blockers"], lambda view: Lines(view["blockers"])),
)
# The table keeps one image per line where it fits: locations are compact (store and path), the
# stores are in them; full URLs are in ``-f json`` and ``show``.
DEFAULT_TABLE_COLUMNS = ("id", "name", "size", "age_seconds", "due", "locations", "blockers")
