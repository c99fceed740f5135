"""The Swift deleter itself: HEAD, then erase the object the way its kind needs (plain, DLO, SLO, or
the segments a lost manifest left); its sessions are :mod:`scrubctl.backends.swift.sessions`'."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote

from scrubctl.backends.base import (
    EraseOutcome,
    EraseProgress,
    EraseResult,
    LocationBlocked,
    LocationFailed,
    ProgressCallback,
)
from scrubctl.backends.remote import (
    CredentialsRefused,
    dependency_hint,
    refusal,
)
from scrubctl.backends.swift.auth import (
    default_reference,
    reference_credentials,
)
from scrubctl.backends.swift.inventory import SwiftInventory
from scrubctl.backends.swift.objects import ObjectClient, SwiftHttpError
from scrubctl.backends.swift.sessions import SwiftSessions
from scrubctl.backends.swift.urls import SwiftUrl, parse_url, truthy
from scrubctl.errors import BackendUnavailableError

logger = logging.getLogger(__name__)

BINDINGS_HINT = dependency_hint("swiftclient", "python-swiftclient", "swift")
# Names asked for per listing page; RGW caps any limit at 1,000, so only an empty page ends a listing.
LISTING_PAGE = 1000


class SwiftDeleter(SwiftInventory, SwiftSessions):
    """Erases the objects behind the locations of one Swift store (see the package docstring); lists
    it as :class:`~scrubctl.backends.swift.inventory.SwiftInventory`."""

    reports_progress = True  # erase() reports a DLO's segments as they go

    def _locate(self, url: str) -> tuple[SwiftUrl, ObjectClient]:
        """Parse, check the container is this store's, authenticate; ``(location, connection)``."""
        if self._client is None:
            raise LocationBlocked(BINDINGS_HINT)
        location = parse_url(url)
        self.mask.add(location.key)
        if not self._in_store(location.container):
            raise LocationBlocked(
                f"container {location.container} is not a container of store {self.store.label} "
                f"({self.container}, or {self.container}_*)"
            )
        if self._problem is not None:
            raise BackendUnavailableError(f"store {self.store.label}: {self._problem}")
        if self._down is not None:
            raise BackendUnavailableError(self._down)
        storage_url, token = self._authenticate(self._credentials(location))
        if location.multi_tenant:
            storage_url = location.http_address()
        return location, self._connection(storage_url, token)

    def _in_store(self, container: str) -> bool:
        return container == self.container or container.startswith(self.container + "_")

    @contextmanager
    def _refusals(self, url: str) -> Iterator[None]:
        """Credentials refused: the location's erase failed when its URL carries them; otherwise the
        store's configuration is wrong and the store is unusable for the rest of the run (exit 3)."""
        try:
            yield
        except CredentialsRefused as refused:
            location = parse_url(url)
            from_location = location.reference is None and location.user is not None and location.key is not None
            meaning = refusal(refused, from_location=from_location, options="swift_store_config_file")
            if isinstance(meaning, BackendUnavailableError):
                self._down = self.mask(str(meaning))
                raise BackendUnavailableError(self._down) from None
            raise LocationFailed(self.mask(str(meaning))) from None

    # -- reading ------------------------------------------------------------------------------

    def _head(self, connection: ObjectClient, location: SwiftUrl) -> dict[str, str] | None:
        """The object's headers, or ``None`` when it is gone."""
        with self._native(f"reading Swift object {location.name}"):
            try:
                return connection.head_object(location.container, location.obj)
            except SwiftHttpError as error:
                if error.status == 404:
                    return None
                raise

    def _listing(self, connection: ObjectClient, container: str, prefix: str) -> list[dict[str, Any]]:
        """Every object of ``container`` whose name starts with ``prefix``: pages are requested with
        a marker until one comes back empty (a short page is not the end: RGW caps ``limit``)."""
        found: list[dict[str, Any]] = []
        marker = ""
        with self._native(f"listing {container}/{prefix}*"):
            while True:
                try:
                    page = connection.list_objects(container, prefix=prefix, marker=marker, limit=LISTING_PAGE)
                except SwiftHttpError as error:
                    if error.status == 404:
                        return found
                    raise
                if not page:
                    return found
                found.extend(page)
                marker = str(page[-1]["name"])

    def _leftovers(self, connection: ObjectClient, location: SwiftUrl) -> list[dict[str, Any]]:
        """Segments Glance wrote for this object (``<object>-00001``...) that outlived their manifest."""
        numbered = re.compile(re.escape(location.obj) + r"-\d+\Z")
        items = self._listing(connection, location.container, f"{location.obj}-")
        return [item for item in items if numbered.match(str(item["name"]))]

    # -- erasing ------------------------------------------------------------------------------

    def _delete(self, connection: ObjectClient, container: str, name: str) -> bool:
        """DELETE one object; ``False`` when it was already gone."""
        with self._native(f"deleting Swift object {container}/{name}"):
            try:
                connection.delete_object(container, name)
            except SwiftHttpError as error:
                if error.status == 404:
                    return False
                raise
        return True

    def _delete_segments(
        self,
        connection: ObjectClient,
        container: str,
        segments: list[dict[str, Any]],
        progress: ProgressCallback | None = None,
    ) -> int:
        """Delete every segment, telling ``progress`` after each; the first failure stops here (the
        manifest stays for a retry)."""
        done_bytes = 0
        for done, segment in enumerate(segments, start=1):
            self._delete(connection, container, str(segment["name"]))
            done_bytes += int(segment.get("bytes", 0))
            if progress is not None:
                progress(EraseProgress(done, len(segments), "segments", done_bytes))
        return done_bytes

    def _delete_slo(self, connection: ObjectClient, location: SwiftUrl) -> int:
        """``DELETE ?multipart-manifest=delete`` and read the bulk-delete body: errors are in the body
        (the status is 200 even when nothing was deleted)."""
        path = f"/{quote(location.container)}/{quote(location.obj)}"
        doing = f"deleting Swift SLO {location.name} and its segments"
        with self._native(doing):
            response = connection.call("DELETE", path, {"multipart-manifest": "delete"}, {"Accept": "application/json"})
        body = response.body
        if response.status == 404:
            return 0
        if response.status in (401, 403):
            raise CredentialsRefused(f"{doing}: Swift refused the credentials (HTTP {response.status})")
        try:
            result = json.loads(body or b"{}")
        except ValueError:
            raise LocationFailed(f"{doing}: HTTP {response.status}, unreadable bulk-delete answer") from None
        errors = result.get("Errors") or []
        answer = str(result.get("Response Status", f"{response.status}"))
        if response.status >= 300 or errors or not answer.startswith("200"):
            shown = "; ".join(f"{unquote(str(name))}: {why}" for name, why in errors[:3])
            raise LocationFailed(f"{doing}: {answer}" + (f" ({shown})" if shown else ""))
        return int(result.get("Number Deleted", 0))

    def erase(self, url: str, *, dry_run: bool, progress: ProgressCallback | None = None) -> EraseResult:
        """HEAD, then erase by kind: SLO through its manifest delete, DLO segments (all of them)
        before the manifest, a plain object; a lost manifest's segments are erased too. ``progress``
        hears each segment deleted one by one (a DLO's, or a lost manifest's)."""
        with self._refusals(url):
            result = self._erase(url, dry_run=dry_run, progress=progress)
            if not dry_run and result.outcome in (EraseOutcome.ERASED, EraseOutcome.ALREADY_GONE):
                self._drop_image_container(url)
            return result

    def _drop_image_container(self, url: str) -> None:
        """A multi-tenant image's own container (``<container>_<id>``), emptied, is deleted as
        glance_store deletes it; one still holding objects is left (HTTP 409)."""
        location = parse_url(url)
        if not location.multi_tenant or location.container != f"{self.container}_{location.obj}":
            return
        location, connection = self._locate(url)
        with self._native(f"deleting Swift container {location.container}"):
            try:
                connection.delete_container(location.container)
            except SwiftHttpError as error:
                if error.status == 409:
                    logger.info("Swift container %s still holds objects: left", location.container)
                elif error.status != 404:
                    raise

    def _erase(self, url: str, *, dry_run: bool, progress: ProgressCallback | None) -> EraseResult:
        location, connection = self._locate(url)
        headers = self._head(connection, location)
        if headers is None:
            leftovers = self._leftovers(connection, location)
            if not leftovers:
                return EraseResult(EraseOutcome.ALREADY_GONE, f"Swift object {location.name} already gone", 0)
            what = f"{len(leftovers)} segment(s) left by the lost manifest of {location.name}"
            if dry_run:
                size = sum(int(item.get("bytes", 0)) for item in leftovers)
                return EraseResult(EraseOutcome.WOULD_ERASE, f"would delete {what}", size)
            size = self._delete_segments(connection, location.container, leftovers, progress)
            return EraseResult(EraseOutcome.ERASED, f"deleted {what}", size)
        size = int(headers.get("content-length", 0) or 0)
        if truthy(headers.get("x-static-large-object")):
            if dry_run:
                return EraseResult(EraseOutcome.WOULD_ERASE, f"would delete Swift SLO {location.name}", size)
            deleted = self._delete_slo(connection, location)
            return EraseResult(EraseOutcome.ERASED, f"deleted Swift SLO {location.name} ({deleted} objects)", size)
        manifest = headers.get("x-object-manifest")
        if manifest:
            segment_container, _, prefix = unquote(manifest).partition("/")
            if not self._in_store(segment_container):
                raise LocationBlocked(f"DLO {location.name} names segments in {segment_container}, outside the store")
            segments = self._listing(connection, segment_container, prefix)
            if dry_run:
                detail = f"would delete Swift DLO {location.name} and {len(segments)} segment(s)"
                return EraseResult(EraseOutcome.WOULD_ERASE, detail, size)
            self._delete_segments(connection, segment_container, segments, progress)
            self._delete(connection, location.container, location.obj)
            detail = f"deleted Swift DLO {location.name} and {len(segments)} segment(s)"
            return EraseResult(EraseOutcome.ERASED, detail, size)
        if dry_run:
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would delete Swift object {location.name}", size)
        if not self._delete(connection, location.container, location.obj):
            return EraseResult(EraseOutcome.ALREADY_GONE, f"Swift object {location.name} already gone", 0)
        return EraseResult(EraseOutcome.ERASED, f"deleted Swift object {location.name}", size)

    # -- the rest of the Deleter protocol -----------------------------------------------------

    def exists(self, url: str) -> bool:
        """Whether the object (or the manifest of a large one) answers a HEAD."""
        with self._refusals(url):
            location, connection = self._locate(url)
            return self._head(connection, location) is not None

    def blockers(self, url: str) -> list[str]:
        """A container outside the store, missing or refused credentials, multi-tenant without a
        way in; changes nothing."""
        if self._client is None:
            raise LocationBlocked(BINDINGS_HINT)
        try:
            location, connection = self._locate(url)
            self._head(connection, location)
        except (LocationBlocked, LocationFailed) as problem:
            return [str(problem)]
        return []

    def check(self) -> list[str]:
        """Authenticate with the store's default reference and HEAD its container."""
        if self._client is None:
            return [BINDINGS_HINT]
        reference = default_reference(self.store)
        if reference is None:
            logger.info("store %s: no default_swift_reference; locations carry their credentials", self.store.label)
            return []
        try:
            credentials = reference_credentials(self.store, reference)
            storage_url, token = self._authenticate(credentials)
            with self._native(f"reading container {self.container}"):
                try:
                    self._connection(storage_url, token).head_container(self.container)
                except SwiftHttpError as error:
                    if error.status == 404 and not truthy(self.store.get("swift_store_multi_tenant")):
                        return [f"container {self.container} of store {self.store.label} does not exist"]
                    if error.status != 404:
                        raise
        except (BackendUnavailableError, LocationBlocked, LocationFailed) as problem:
            return [self.mask(str(problem))]
        return []

    def close(self) -> None:
        """Forget the sessions; this thread's connections are closed (the others' die with them)."""
        for connection in self._local.__dict__.get("connections", {}).values():
            try:
                connection.close()
            except OSError:  # closing must reach every connection
                logger.debug("closing a Swift connection failed", exc_info=True)
        self._local.__dict__.pop("connections", None)
        with self._lock:
            self._sessions.clear()
