"""The swift deleter's inventory: the store's containers listed page by page with the store's default
reference, each object as Glance stored it (:mod:`scrubctl.backends.swift.listing`), and which
location rows need it.

Keys are ``swift:<container>/<object>``, whatever the URL form (``swift+config``, credentials in the
URL, a multi-tenant storage URL) and whoever's account it names: a row naming ``glance/<id>`` through
any credentials keeps ``glance/<id>`` here (never a false orphan). A large object is one piece under
its manifest's key; the segments of a manifest that is gone are a piece of area ``segments`` under the
same key, so a row naming the manifest keeps them too. A multi-tenant store's containers
``<container>_<id>`` are listed in every owner's account (:mod:`scrubctl.backends.swift.accounts`),
each piece named by the storage URL Glance wrote for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed
from scrubctl.backends.inventory import DATA, Examined, NamedInFull, StoredPiece
from scrubctl.backends.remote import CredentialsRefused
from scrubctl.backends.swift.accounts import ADMIN_ROLE_HINT, KeystoneCatalog, account_urls, keystone_base
from scrubctl.backends.swift.auth import Credentials, default_reference, reference_credentials
from scrubctl.backends.swift.erasing import SwiftErasing
from scrubctl.backends.swift.listing import (
    SEGMENTS,
    ContainerGrouper,
    Group,
    SloIndex,
    read_ahead,
    release_held,
    slo_segment_paths,
)
from scrubctl.backends.swift.objects import ObjectClient, SwiftHttpError
from scrubctl.backends.swift.urls import SCHEMES, glance_storage_url, parse_url, truthy
from scrubctl.settings.utc import glance_timestamp, to_naive_utc

logger = logging.getLogger(__name__)

PAGE = 1000  # names asked for per page (RGW cuts any larger limit to 1,000; only an empty page ends)
READ_CHUNK = 8 * 1024 * 1024
PLAIN_PREFIXES = tuple(f"{scheme}://" for scheme in SCHEMES)


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
    return glance_timestamp(to_naive_utc(parsed))


class _Listed:
    """What one run's listing learnt that a closer look needs: the reference listed with, the
    accounts listed (their location URL prefix by container), the SLO manifests met, the containers
    listed in full."""

    def __init__(self) -> None:
        self.reference = ""
        self.credentials: Credentials | None = None
        self.prefixes: dict[str, str] = {}
        self.slo = SloIndex()
        self.containers: list[str] = []


class AccountRefused(LocationBlocked):
    """An owner's account refused the reference's listing (a multi-tenant store)."""


class _Account(NamedTuple):
    """One account to list: the location URL of its containers up to the container (``swift+config://
    <reference>``, or a multi-tenant storage URL as Glance writes it), and the storage URL to call
    (``None``: the reference's own)."""

    prefix: str
    storage_url: str | None = None


class SwiftInventory(SwiftErasing, NamedInFull):
    """The :class:`~scrubctl.backends.inventory.Inventory` of the swift deleter (its base): the store's
    listing on the erasing it uses."""

    # examine() may be called from this many threads at once (a scan's closer looks, one HEAD each):
    # the deleter keeps a connection per thread, and the listing's SLO index is only read by then.
    examine_threads = 4
    plain_prefixes = PLAIN_PREFIXES

    def _listed(self) -> _Listed:
        found: _Listed | None = self.__dict__.get("_inventory_listed")
        if found is None:
            found = self.__dict__.setdefault("_inventory_listed", _Listed())
        return found

    def _session(self) -> tuple[str, str]:
        """``(storage URL, token)`` of the store's default reference."""
        reference = default_reference(self.store)
        if reference is None:
            raise LocationBlocked(
                f"store {self.store.label} sets no swift_store_config_file with a default_swift_reference to list with"
            )
        listed = self._listed()
        if listed.credentials is None or listed.reference != reference:
            listed.reference, listed.credentials = reference, reference_credentials(self.store, reference)
        return self._authenticate(listed.credentials)

    def _accounts(self) -> list[_Account]:
        """The accounts holding the store's containers: the reference's own, or for a multi-tenant
        store ``swift_store_endpoint`` or every Keystone project's (:mod:`~scrubctl.backends.swift.accounts`)."""
        _storage_url, token = self._session()
        listed = self._listed()
        if not truthy(self.store.get("swift_store_multi_tenant")):
            return [_Account(f"swift+config://{listed.reference}")]
        credentials = listed.credentials
        assert credentials is not None  # set by _session
        fixed = self.store.get("swift_store_endpoint")
        if fixed:
            urls = [fixed]
        elif credentials.version != "3":
            raise LocationBlocked(f"a multi-tenant store's accounts are listed through Keystone v3 ({ADMIN_ROLE_HINT})")
        else:
            verify: bool | str = self.cacert or not self.insecure
            base = keystone_base(credentials.auth_url)
            with self._native(f"asking Keystone {base} for the accounts of store {self.store.label}"):
                catalog = KeystoneCatalog(self._requests, base, token, timeout=self.timeout, verify=verify)
                urls = account_urls(catalog.endpoint_template(self.store), catalog.project_ids())
        return [_Account(glance_storage_url(url), url) for url in urls]

    def _connect(self, account: _Account) -> ObjectClient:
        """A connection to the account with the reference's token (renewed when old)."""
        storage_url, token = self._session()
        return self._connection(account.storage_url or storage_url, token)

    def _pages(self, account: _Account, container: str | None) -> Iterator[list[dict[str, Any]]]:
        """The listing of a container (or, ``None``, of the store's containers) one page at a time."""
        marker = ""
        what = f"listing {container}" if container is not None else f"listing the containers {self.container}*"
        while True:
            connection = self._connect(account)
            try:
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
            except CredentialsRefused as refused:
                if account.storage_url is None:  # the reference's own account: its credentials are wrong
                    raise
                raise AccountRefused(f"{refused} in {account.storage_url}") from None
            if not page:
                return
            yield page
            marker = str(page[-1]["name"])

    def inventory(self) -> Iterator[StoredPiece]:
        """Every object of the store's containers (``swift_store_container`` and ``<container>_*``, in
        every owner's account for a multi-tenant store), large ones as one piece, lost manifests'
        segments as one piece each, a page at a time."""
        listed = self._listed()
        accounts = self._accounts()
        listed.slo, listed.containers, listed.prefixes = SloIndex(), [], {}
        held: list[Group] = []
        containers = self._containers(accounts)
        grouper: ContainerGrouper | None = None
        for account, container, page in read_ahead(self._object_pages(containers)):
            if grouper is None or grouper.container != container:
                if grouper is not None:
                    yield from self._finish(grouper)
                grouper = ContainerGrouper(container, listed.slo, held)
                listed.prefixes[container] = account.prefix
                url, key = f"{account.prefix}/{container}/", f"swift:{container}/"
            for group in grouper.feed(page):
                name = group.name
                yield StoredPiece(url + name, key + name, name, SEGMENTS if group.kind == SEGMENTS else DATA)
            if grouper.manifests:
                self._read_manifests(account, grouper)
        if grouper is not None:
            yield from self._finish(grouper)
        for group in release_held(held, listed.slo):
            yield self._piece(group)

    def _containers(self, accounts: list[_Account]) -> list[tuple[_Account, str]]:
        """The store's containers in each account. An owner's account that refuses the listing is
        passed over with a warning while others let the reference in (RGW refuses the account of a
        project that never used it: it has none); when every account but the reference's own does
        (a reference without reseller rights), the store cannot be listed."""
        own_url, _token = self._session()
        found: list[tuple[_Account, str]] = []
        refused: list[str] = []
        others = reached = 0
        for account in accounts:
            other = account.storage_url not in (None, own_url)
            others += other
            try:
                names = [str(item["name"]) for page in self._pages(account, None) for item in page]
            except AccountRefused as refusal:
                refused.append(str(refusal))
                continue
            reached += other
            found.extend((account, name) for name in names if self._in_store(name))
        if refused and others and not reached:
            raise LocationBlocked(f"{refused[0]}: {ADMIN_ROLE_HINT}")
        if refused:
            logger.warning(
                "store %s: %d of %d accounts refused the listing and were not looked at (%s; a project that "
                "never used RGW has no account there)",
                self.store.label,
                len(refused),
                len(accounts),
                refused[0],
            )
        return found

    def _object_pages(
        self, containers: list[tuple[_Account, str]]
    ) -> Iterator[tuple[_Account, str, list[dict[str, Any]]]]:
        """Every page of every container, in turn (an empty container gives one empty page)."""
        for account, container in containers:
            yield account, container, []
            for page in self._pages(account, container):
                yield account, container, page

    def _finish(self, grouper: ContainerGrouper) -> Iterator[StoredPiece]:
        """The last pieces of a container listed in full."""
        for group in grouper.finish():
            yield self._piece(group)
        self._listed().containers.append(grouper.container)

    def _read_manifests(self, account: _Account, grouper: ContainerGrouper) -> None:
        """Read the segment lists of the SLO manifests just met, where the server serves them."""
        listed = self._listed()
        for group in grouper.manifests:
            connection = self._connect(account)
            with self._native(f"reading the SLO manifest {group.path}"):
                answer = connection.call(
                    "GET", f"/{_quoted(group.container)}/{_quoted(group.name)}", {"multipart-manifest": "get"}
                )
            paths = slo_segment_paths(answer.body) if answer.status < 300 else None
            for path in paths or ():
                listed.slo.segments[path] = group.path
        grouper.manifests.clear()

    def _piece(self, group: Group) -> StoredPiece:
        url = f"{self._listed().prefixes[group.container]}/{group.container}/{group.name}"
        area = SEGMENTS if group.kind == SEGMENTS else DATA
        return StoredPiece(url, swift_key(group.container, group.name), group.name, area)

    def examine(self, piece: StoredPiece) -> Examined:
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

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
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

    def read_chunks(self, url: str) -> Iterator[bytes]:
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

    def scope(self) -> tuple[str, ...]:
        """``swift:<container>/`` of each container the last listing read in full."""
        return tuple(f"swift:{container}/" for container in self._listed().containers)

    # -- matching -----------------------------------------------------------------------------

    def piece_key(self, url: str) -> str:
        """``swift:<container>/<object>`` of any Swift URL form."""
        location = parse_url(url)
        return swift_key(location.container, location.obj)

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        """``swift+config://<reference>/<container>/<object>`` as glance_store 5 writes it (a
        multi-tenant store's: the owner's storage URL, ``swift+https://<host>/v1/AUTH_<project>/...``)."""
        return (piece.url,)


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text)
