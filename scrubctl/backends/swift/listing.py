"""Grouping a Swift container's listing into what Glance stored: objects, with the segments of large
ones folded into their manifests, and segments whose manifest is gone.

Glance writes a large image as numbered segments ``<object>-00001``, ``<object>-00002``... in the same
container, then a zero-byte manifest ``<object>`` (a DLO, ``X-Object-Manifest: <container>/<object>-``).
A container lists its names in byte order, so a manifest comes right before its segments; a segment
name whose object was not listed just before it belongs to a manifest that is gone (kind ``segments``).
An SLO's segments can be named anything: where the server serves the manifest (Swift), its exact segment
list is read; where it does not (Ceph RGW answers an empty body), names under ``<manifest>/`` (what
``swift upload`` writes, in the same container or in ``<container>_segments``) are taken as its segments.
Names that are not image ids (most SLO segments) are held until every container is listed, so that a
manifest listed later still claims them; Glance's own names never are, so memory stays flat however
many objects the store holds. The next pages are fetched by a thread of their own while one is
grouped (:func:`read_ahead`).
"""

from __future__ import annotations

import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

PAGES_AHEAD = 4  # pages fetched while the ones before are grouped and compared
T = TypeVar("T")
SEGMENT_NAME = re.compile(r"(?P<base>.+)-(?P<number>[0-9]{5,})\Z")  # Glance: "%s-%05d"
IMAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EMPTY_ETAG = "d41d8cd98f00b204e9800998ecf8427e"  # an empty body's MD5: a manifest's listed hash on RGW
RECENT_OBJECTS = 64  # objects remembered after they are passed, for segments listed a little later

OBJECT = "object"
SEGMENTS = "segments"


@dataclass(slots=True)
class Group:
    """One object as Glance stored it (``kind`` :data:`OBJECT`, with the segments folded into it), or
    the segments of a manifest that is gone (``kind`` :data:`SEGMENTS`, ``name`` the manifest's)."""

    container: str
    name: str
    kind: str
    segments: int = 0
    bytes: int = 0
    newest: str = ""
    large: bool = False  # listed as a manifest (a zero-byte object, or an SLO)
    image: bool = True  # its name is an image id (else it is held until every container is listed)

    def add(self, entry: Mapping[str, Any]) -> None:
        """Count one segment."""
        self.segments += 1
        self.bytes += int(entry.get("bytes", 0) or 0)
        self.newest = max(self.newest, str(entry.get("last_modified", "")))

    @property
    def path(self) -> str:
        """``container/name``."""
        return f"{self.container}/{self.name}"


def is_slo_manifest(entry: Mapping[str, Any]) -> bool:
    """Whether a listing entry is an SLO manifest: Swift lists it with ``slo_etag`` or a
    ``swift_bytes`` content type, RGW with an empty body's hash and a size that is not zero."""
    if entry.get("hash") == EMPTY_ETAG and int(entry.get("bytes", 0) or 0) > 0:
        return True
    return bool(entry.get("slo_etag")) or "swift_bytes=" in str(entry.get("content_type", ""))


@dataclass
class SloIndex:
    """The SLO manifests met so far (``container/name``), the names of their segments read from
    the manifests the server serves, and the bare names of every manifest (for ``<name>/`` segments)."""

    manifests: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    segments: dict[str, str] = field(default_factory=dict)  # segment path -> its manifest's path

    def owner(self, container: str, name: str) -> str | None:
        """The path of the SLO manifest a piece is a segment of, if one claims it."""
        path = f"{container}/{name}"
        owner = self.segments.get(path)
        if owner is not None:
            return owner
        head = name.split("/", 1)[0]
        if "/" in name and head in self.names:
            return head
        return None


class ContainerGrouper:
    """Turns one container's listing, in listing order, into :class:`Group` items; names that are not
    image ids go to ``held`` instead (see the module docstring)."""

    def __init__(self, container: str, slo: SloIndex, held: list[Group]) -> None:
        self.container = container
        self.slo = slo
        self.held = held
        self._pending: Group | None = None  # the last object, waiting for its segments
        self._loose: Group | None = None  # segments whose manifest was not listed
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.manifests: list[Group] = []  # SLO manifests of this container met (their segments to read)

    def feed(self, entries: Iterable[Mapping[str, Any]]) -> Iterator[Group]:
        """Group ``entries``; call :meth:`finish` after the last page."""
        for entry in entries:
            name = str(entry["name"])
            image = len(name) == 36 and IMAGE_ID.fullmatch(name) is not None
            if not image and self._absorbed(name, entry):
                continue
            pending, loose = self._pending, self._loose
            if pending is not None or loose is not None:
                yield from self.finish()
            match = None if image or "-" not in name else SEGMENT_NAME.fullmatch(name)
            if match is not None:
                self._loose = Group(self.container, match["base"], SEGMENTS)
                self._loose.add(entry)
            else:
                self._pending = self._object(name, entry, image)

    def _absorbed(self, name: str, entry: Mapping[str, Any]) -> bool:
        """Whether a name that is not an image id is a segment of the group waiting (or of a manifest
        listed a little earlier), now counted in it."""
        pending, loose = self._pending, self._loose
        match = SEGMENT_NAME.fullmatch(name) if "-" in name else None
        if match is not None:
            base = match["base"]
            if pending is not None and base == pending.name:
                pending.add(entry)
                return True
            if loose is not None and base == loose.name:
                loose.add(entry)
                return True
            if base in self._recent:
                return True  # its manifest was listed a little earlier, with other names between
        if pending is not None and pending.large and name.startswith(pending.name + "/"):
            pending.add(entry)  # an SLO's segment under <manifest>/
            return True
        return False

    def _object(self, name: str, entry: Mapping[str, Any], image: bool) -> Group:
        size = int(entry.get("bytes", 0) or 0)
        group = Group(self.container, name, OBJECT, bytes=size, newest=str(entry.get("last_modified", "")))
        group.image = image
        slo = is_slo_manifest(entry)
        group.large = slo or (size == 0 and entry.get("hash") == EMPTY_ETAG)
        if slo:
            self.slo.manifests.add(group.path)
            self.slo.names.add(name)
            self.manifests.append(group)
        return group

    def finish(self) -> Iterator[Group]:
        """Hand over what is still waiting (the end of the listing, or a name that ends a group)."""
        pending, loose = self._pending, self._loose
        self._pending = self._loose = None
        if pending is not None:
            if pending.large:  # its segments may still come, after other names
                self._recent[pending.name] = None
                if len(self._recent) > RECENT_OBJECTS:
                    self._recent.popitem(last=False)
            if pending.image:
                yield pending
            else:
                self.held.append(pending)
        if loose is not None:
            yield loose


def release_held(held: Iterable[Group], slo: SloIndex) -> Iterator[Group]:
    """The held names no SLO manifest claims, once every container is listed."""
    for group in held:
        if slo.owner(group.container, group.name) is None:
            yield group


def slo_segment_paths(body: bytes) -> list[str] | None:
    """The ``container/name`` of each segment an SLO manifest lists (``GET ?multipart-manifest=get``),
    or ``None`` when the server did not serve it (RGW answers an empty body)."""
    import json

    if not body.strip():
        return None
    try:
        items = json.loads(body)
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    paths = []
    for item in items:
        path = str(item.get("name") or item.get("path") or "") if isinstance(item, dict) else ""
        if path:
            paths.append(path.lstrip("/"))
    return paths


def read_ahead(items: Iterator[T], depth: int = PAGES_AHEAD) -> Iterator[T]:
    """``items`` produced by a thread of their own, up to ``depth`` ahead of the reader (the next page
    of a listing is on its way while this one is looked at); the producer's error is raised here."""
    handed: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                handed.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand((True, item)):
                    return
            hand((False, None))
        except BaseException as error:  # noqa: BLE001 - raised again in the reader
            hand((False, error))

    worker = threading.Thread(target=produce, name="swift-listing", daemon=True)
    worker.start()
    try:
        while True:
            more, value = handed.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        worker.join()
