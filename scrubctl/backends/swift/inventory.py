"""The swift deleter's inventory: the store's containers listed page by page with the store's default
reference, each object as Glance stored it (:mod:`scrubctl.backends.swift.listing`), and which
location rows need it.

Keys are ``swift:<container>/<object>``, whatever the URL form (``swift+config``, credentials in the
URL, a multi-tenant storage URL) and whoever's account it names: a row naming ``glance/<id>`` through
any credentials keeps ``glance/<id>`` here (never a false orphan). A large object is one piece under
its manifest's key; the segments of a manifest that is gone are a piece of area ``segments`` under the
same key, so a row naming the manifest keeps them too. A multi-tenant store is not listed: each image
lies in a container of its owner's account, which the store's reference cannot list.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed, ProgressCallback
from scrubctl.backends.inventory import DATA, Examined, NamedInFull, StoredPiece
from scrubctl.backends.swift.auth import Credentials, default_reference, reference_credentials
from scrubctl.backends.swift.listing import (
    SEGMENTS,
    ContainerGrouper,
    Group,
    SloIndex,
    release_held,
    slo_segment_paths,
)
from scrubctl.backends.swift.objects import ObjectClient, SwiftHttpError
from scrubctl.backends.swift.urls import SCHEMES, SwiftUrl, parse_url, truthy
from scrubctl.settings.config import StoreConfig

logger = logging.getLogger(__name__)

PAGE = 1000  # names asked for per page (RGW cuts any larger limit to 1,000; only an empty page ends)
READ_CHUNK = 8 * 1024 * 1024
PLAIN_PREFIXES = tuple(f"{scheme}://" for scheme in SCHEMES)
PAGES_AHEAD = 4  # pages fetched while the ones before are grouped and compared
T = TypeVar("T")


def swift_key(container: str, name: str) -> str:
    """``swift:<container>/<object>``: the object a location names, in whatever account."""
    return f"swift:{container}/{name}"


def moment(text: str | None) -> datetime | None:
    """A listing's ``last_modified`` (ISO 8601) or a ``Last-Modified`` header, as naive UTC."""
    if not text:
        return None
    try:
        iso = text[:4].isdigit()
        parsed = datetime.fromisoformat(text.rstrip("Z")) if iso else parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


class _SwiftAccess(Protocol):
    """What the inventory uses of :class:`~scrubctl.backends.swift.deleter.SwiftDeleter`."""

    store: StoreConfig
    container: str

    def _authenticate(self, credentials: Credentials) -> tuple[str, str]: ...
    def _connection(self, storage_url: str, token: str) -> ObjectClient: ...
    def _locate(self, url: str) -> tuple[SwiftUrl, ObjectClient]: ...
    def _native(self, doing: str) -> AbstractContextManager[None]: ...
    def _head(self, connection: ObjectClient, location: SwiftUrl) -> dict[str, str] | None: ...
    def _leftovers(self, connection: ObjectClient, location: SwiftUrl) -> list[dict[str, Any]]: ...
    def _delete_segments(
        self,
        connection: ObjectClient,
        container: str,
        segments: list[dict[str, Any]],
        progress: ProgressCallback | None = None,
    ) -> int: ...
    def _in_store(self, container: str) -> bool: ...
    def erase(self, url: str, *, dry_run: bool, progress: ProgressCallback | None = None) -> EraseResult: ...
    def _listed(self) -> _Listed: ...


class _Listed:
    """What one run's listing learnt that a closer look needs: the reference listed with, the SLO
    manifests met, the containers listed in full."""

    def __init__(self) -> None:
        self.reference = ""
        self.credentials: Credentials | None = None
        self.slo = SloIndex()
        self.containers: list[str] = []


class SwiftInventory(NamedInFull):
    """The :class:`~scrubctl.backends.inventory.Inventory` of the swift deleter (a mixin of it)."""

    # examine() may be called from this many threads at once (a scan's closer looks, one HEAD each):
    # the deleter keeps a connection per thread, and the listing's SLO index is only read by then.
    examine_threads = 4
    plain_prefixes = PLAIN_PREFIXES

    def _listed(self: _SwiftAccess) -> _Listed:
        found: _Listed | None = self.__dict__.get("_inventory_listed")
        if found is None:
            found = self.__dict__.setdefault("_inventory_listed", _Listed())
        return found

    def _account(self: _SwiftAccess) -> tuple[str, ObjectClient]:
        """``(reference, connection)`` to the account of the store's default reference."""
        if truthy(self.store.get("swift_store_multi_tenant")):
            raise LocationBlocked(
                "multi-tenant Swift store: each image lies in its owner's account, which the store's reference "
                "cannot list"
            )
        reference = default_reference(self.store)
        if reference is None:
            raise LocationBlocked(
                f"store {self.store.label} sets no swift_store_config_file with a default_swift_reference to list with"
            )
        listed = self._listed()
        if listed.credentials is None or listed.reference != reference:
            listed.reference, listed.credentials = reference, reference_credentials(self.store, reference)
        storage_url, token = self._authenticate(listed.credentials)
        return reference, self._connection(storage_url, token)

    def _pages(self: _SwiftAccess, container: str | None) -> Iterator[list[dict[str, Any]]]:
        """The listing of a container (or, ``None``, of the store's containers) one page at a time."""
        marker = ""
        what = f"listing {container}" if container is not None else f"listing the containers {self.container}*"
        while True:
            _reference, connection = SwiftInventory._account(self)
            with self._native(what):
                try:
                    if container is None:
                        page = connection.list_containers(prefix=self.container, marker=marker, limit=PAGE)
                    else:
                        page = connection.list_objects(container, prefix="", marker=marker, limit=PAGE)
                except SwiftHttpError as error:
                    if error.status == 404:
                        return
                    raise
            if not page:
                return
            yield page
            marker = str(page[-1]["name"])

    def inventory(self: _SwiftAccess) -> Iterator[StoredPiece]:
        """Every object of the store's containers (``swift_store_container`` and ``<container>_*``),
        large ones as one piece, lost manifests' segments as one piece each, a page at a time."""
        listed = self._listed()
        listed.reference, _connection = SwiftInventory._account(self)
        listed.slo, listed.containers = SloIndex(), []
        held: list[Group] = []
        containers = [
            str(item["name"])
            for page in SwiftInventory._pages(self, None)
            for item in page
            if self._in_store(str(item["name"]))
        ]
        grouper: ContainerGrouper | None = None
        for container, page in read_ahead(SwiftInventory._object_pages(self, containers)):
            if grouper is None or grouper.container != container:
                if grouper is not None:
                    yield from SwiftInventory._finish(self, grouper)
                grouper = ContainerGrouper(container, listed.slo, held)
                url, key = f"swift+config://{listed.reference}/{container}/", f"swift:{container}/"
            for group in grouper.feed(page):
                name = group.name
                yield StoredPiece(url + name, key + name, name, SEGMENTS if group.kind == SEGMENTS else DATA)
            if grouper.manifests:
                SwiftInventory._read_manifests(self, grouper)
        if grouper is not None:
            yield from SwiftInventory._finish(self, grouper)
        for group in release_held(held, listed.slo):
            yield SwiftInventory._piece(self, group)

    def _object_pages(self: _SwiftAccess, containers: list[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Every page of every container, in turn (an empty container gives one empty page)."""
        for container in containers:
            yield container, []
            for page in SwiftInventory._pages(self, container):
                yield container, page

    def _finish(self: _SwiftAccess, grouper: ContainerGrouper) -> Iterator[StoredPiece]:
        """The last pieces of a container listed in full."""
        for group in grouper.finish():
            yield SwiftInventory._piece(self, group)
        self._listed().containers.append(grouper.container)

    def _read_manifests(self: _SwiftAccess, grouper: ContainerGrouper) -> None:
        """Read the segment lists of the SLO manifests just met, where the server serves them."""
        listed = self._listed()
        for group in grouper.manifests:
            _reference, connection = SwiftInventory._account(self)
            with self._native(f"reading the SLO manifest {group.path}"):
                answer = connection.call(
                    "GET", f"/{_quoted(group.container)}/{_quoted(group.name)}", {"multipart-manifest": "get"}
                )
            paths = slo_segment_paths(answer.body) if answer.status < 300 else None
            for path in paths or ():
                listed.slo.segments[path] = group.path
        grouper.manifests.clear()

    def _piece(self: _SwiftAccess, group: Group) -> StoredPiece:
        url = f"swift+config://{self._listed().reference}/{group.container}/{group.name}"
        area = SEGMENTS if group.kind == SEGMENTS else DATA
        return StoredPiece(url, swift_key(group.container, group.name), group.name, area)

    def examine(self: _SwiftAccess, piece: StoredPiece) -> Examined:
        """A HEAD of the object (size with its segments, last written), or for lost segments their
        listing; an SLO segment named by a manifest is blocked with that manifest's name."""
        try:
            location, connection = self._locate(piece.url)
            owner = self._listed().slo.owner(location.container, location.obj)
            if owner is not None:
                return Examined(exists=True, blockers=(f"a segment of the SLO {owner}",))
            headers = self._head(connection, location)
            if piece.area != SEGMENTS:
                if headers is None:
                    return Examined(exists=False)
                size = int(headers.get("content-length", 0) or 0)
                written = moment(headers.get("last-modified"))
                return Examined(exists=True, bytes=size, created_at=written, last_activity=written)
            segments = self._leftovers(connection, location)
        except (LocationBlocked, LocationFailed) as problem:
            return Examined(exists=True, blockers=(str(problem),))
        if not segments:
            return Examined(exists=False)
        times = [when for when in (moment(str(item.get("last_modified", ""))) for item in segments) if when]
        blockers = (f"its manifest {location.name} is there again",) if headers is not None else ()
        return Examined(
            exists=True,
            bytes=sum(int(item.get("bytes", 0) or 0) for item in segments),
            created_at=min(times, default=None),
            last_activity=max(times, default=None),
            partial=True,
            blockers=blockers,
        )

    def erase_piece(self: _SwiftAccess, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        """An object as scrub erases it (its segments with it); lost segments only while their
        manifest is still gone (a manifest written since is never touched here)."""
        if piece.area != SEGMENTS:
            return self.erase(piece.url, dry_run=dry_run)
        location, connection = self._locate(piece.url)
        if self._head(connection, location) is not None:
            raise LocationBlocked(f"the manifest {location.name} of these segments is there again")
        segments = self._leftovers(connection, location)
        what = f"{len(segments)} segment(s) of the lost manifest {location.name}"
        if not segments:
            return EraseResult(EraseOutcome.ALREADY_GONE, f"the segments of {location.name} are already gone", 0)
        if dry_run:
            size = sum(int(item.get("bytes", 0) or 0) for item in segments)
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would delete {what}", size)
        size = self._delete_segments(connection, location.container, segments)
        return EraseResult(EraseOutcome.ERASED, f"deleted {what}", size)

    def read_chunks(self: _SwiftAccess, url: str) -> Iterator[bytes]:
        """The object's bytes (a large object's, through its manifest) in ranges of 8 MiB."""
        location, connection = self._locate(url)
        headers = self._head(connection, location)
        if headers is None:
            raise LocationFailed(f"Swift object {location.name} is gone")
        size, offset = int(headers.get("content-length", 0) or 0), 0
        while offset < size:
            end = min(offset + READ_CHUNK, size) - 1
            with self._native(f"reading Swift object {location.name}"):
                chunk = connection.read_range(location.container, location.obj, offset, end)
            if not chunk:
                raise LocationFailed(f"Swift object {location.name} ended at byte {offset} of {size}")
            offset += len(chunk)
            yield chunk

    def scope(self: _SwiftAccess) -> tuple[str, ...]:
        """``swift:<container>/`` of each container the last listing read in full."""
        return tuple(f"swift:{container}/" for container in self._listed().containers)

    # -- matching -----------------------------------------------------------------------------

    def location_keys(self, url: str, store: StoreConfig | None) -> tuple[str, ...]:
        """``swift:<container>/<object>`` of any Swift URL form (nothing for a URL that cannot be read)."""
        try:
            location = parse_url(url)
        except LocationBlocked:
            return ()
        return (swift_key(location.container, location.obj),)

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        """``swift+config://<reference>/<container>/<object>``, as glance_store 5 writes it."""
        return (piece.url,)


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


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text)
