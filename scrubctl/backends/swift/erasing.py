"""The Swift deleter's reading and erasing: HEAD, then erase the object the way its kind needs (plain,
DLO, SLO, or the segments a lost manifest left), on the sessions of
:mod:`scrubctl.backends.swift.sessions`."""

from __future__ import annotations

import json
import logging
import re
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
from scrubctl.backends.remote import CredentialsRefused, RemoteDeleter, dependency_hint
from scrubctl.backends.swift.objects import ObjectClient, SwiftHttpError
from scrubctl.backends.swift.sessions import SwiftSessions
from scrubctl.backends.swift.urls import SwiftUrl, parse_url, truthy
from scrubctl.errors import BackendUnavailableError

logger = logging.getLogger(__name__)

BINDINGS_HINT = dependency_hint("swiftclient", "python-swiftclient", "swift")
# Names asked for per listing page; RGW caps any limit at 1,000, so only an empty page ends a listing.
LISTING_PAGE = 1000


class SwiftErasing(SwiftSessions, RemoteDeleter):
    """Reads and erases the objects behind the locations of one Swift store (see the package docstring):
    the deleter's :meth:`erase` and what its inventory uses."""

    reports_progress = True  # erase() reports a DLO's segments as they go
    credential_options = "swift_store_config_file"

    def _bindings_hint(self) -> str | None:
        return BINDINGS_HINT if self._client is None else None

    def _url_credentials(self, url: str) -> bool:
        location = parse_url(url)
        return location.reference is None and location.user is not None and location.key is not None

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
        glance_store deletes it. Its data is gone by then, so a container left never fails the image:
        one still holding objects (HTTP 409) is left quietly, one the reference may not delete (a
        container write ACL, ``swift_store_admin_tenants``) with a warning."""
        location = parse_url(url)
        if not location.multi_tenant or location.container != f"{self.container}_{location.obj}":
            return
        location, connection = self._locate(url)
        try:
            with self._native(f"deleting Swift container {location.container}"):
                _delete_if_empty(connection, location.container)
        except LocationFailed as problem:  # refused credentials included
            logger.warning("Swift container %s left: %s", location.container, problem)

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


def _delete_if_empty(connection: ObjectClient, container: str) -> None:
    """DELETE ``container``; one already gone (404) or still holding objects (409) is left as it is."""
    try:
        connection.delete_container(container)
    except SwiftHttpError as error:
        if error.status == 409:
            logger.info("Swift container %s still holds objects: left", container)
        elif error.status != 404:
            raise
