"""The s3 deleter's inventory: the store's bucket listed page by page (``ListObjectsV2``, 1,000 keys
a page), then its incomplete multipart uploads (``ListMultipartUploads``), which a bucket listing never
shows and glance_store never aborts; and which location rows need each.

Keys are ``s3:<bucket>/<key>``, whatever the URL form (with the keys of glance_store up to 5.5 or
without) and whatever host it names: a row naming ``<bucket>/<id>`` keeps that object here (never a
false orphan). An incomplete upload is a piece of area ``multipart`` under its object's key (the
upload's id in ``trash_id``), so a row naming the object keeps its uploads too; its age is the
upload's initiation (or its newest part, when later). Keys holding a ``/`` are not Glance's (its
location URL could not name them) and are left out, counted in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed
from scrubctl.backends.inventory import DATA, Examined, NamedInFull, StoredPiece
from scrubctl.backends.s3.erasing import S3Erasing
from scrubctl.backends.s3.urls import SCHEMES, S3Url, host_of, parse_url
from scrubctl.settings.utc import glance_timestamp, to_naive_utc

logger = logging.getLogger(__name__)

MULTIPART = "multipart"
PAGE = 1000
READ_CHUNK = 8 * 1024 * 1024
PLAIN_PREFIXES = tuple(f"{scheme}://" for scheme in SCHEMES)
NO_UPLOAD_CODES = frozenset({"NoSuchUpload", "404", "NoSuchKey", "NoSuchBucket"})


def s3_key(bucket: str, key: str) -> str:
    """``s3:<bucket>/<key>``: the object a location names, on whatever host."""
    return f"s3:{bucket}/{key}"


def naive_utc(moment: Any) -> datetime | None:
    """botocore's aware datetimes as naive UTC, to the second."""
    if not isinstance(moment, datetime):
        return None
    return glance_timestamp(to_naive_utc(moment))


class S3Inventory(S3Erasing, NamedInFull):
    """The :class:`~scrubctl.backends.inventory.Inventory` of the s3 deleter (its base): the store's
    listing on the erasing it uses."""

    # examine() may be called from this many threads at once (a scan's closer looks, one HEAD each):
    # the deleter's client is shared by threads, and the uploads seen are only read by then.
    examine_threads = 4
    plain_prefixes = PLAIN_PREFIXES

    def _uploads_seen(self) -> dict[str, datetime | None]:
        """Upload id -> initiation, of the uploads the last listing met."""
        found: dict[str, datetime | None] = self.__dict__.setdefault("_inventory_uploads", {})
        return found

    def _bucket(self) -> tuple[S3Url, Any]:
        """The store's bucket and a client with the store's keys."""
        if not self.bucket:
            raise LocationBlocked(f"store {self.store.label} sets no s3_store_bucket to list")
        if not (self.access_key and self._secret_key):
            raise LocationBlocked(
                f"store {self.store.label} sets no s3_store_access_key/s3_store_secret_key to list its bucket with"
            )
        scheme = "s3+https" if self.endpoint.lower().startswith("https://") else "s3"
        probe = S3Url(scheme=scheme, host=host_of(self.endpoint), bucket=self.bucket, key="")
        return probe, self._client(probe)

    def inventory(self) -> Iterator[StoredPiece]:
        """Every object of the store's bucket, then every incomplete multipart upload in it."""
        probe, client = self._bucket()
        prefix = f"{probe.scheme}://{probe.host}/{probe.bucket}/"
        skipped = 0
        token: dict[str, str] = {}
        while True:
            with self._native(f"listing bucket {probe.bucket}"):
                page = client.list_objects_v2(Bucket=probe.bucket, MaxKeys=PAGE, **token)
            for item in page.get("Contents", ()):
                name = str(item["Key"])
                if "/" in name or not name:
                    skipped += 1
                    continue
                yield StoredPiece(prefix + name, s3_key(probe.bucket, name), name, DATA)
            if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
                break
            token = {"ContinuationToken": str(page["NextContinuationToken"])}
        seen = self._uploads_seen()
        seen.clear()
        for item in self._bucket_uploads(client, probe.bucket):
            name = str(item["Key"])
            if "/" in name or not name:
                skipped += 1
                continue
            upload = str(item["UploadId"])
            seen[upload] = naive_utc(item.get("Initiated"))
            yield StoredPiece(prefix + name, s3_key(probe.bucket, name), name, MULTIPART, trash_id=upload)
        if skipped:
            logger.info("bucket %s: %d key(s) holding '/' are not Glance's and not listed", probe.bucket, skipped)

    def _bucket_uploads(self, client: Any, bucket: str) -> Iterator[dict[str, Any]]:
        """Every incomplete multipart upload of the bucket, page by page."""
        marker: dict[str, str] = {}
        while True:
            with self._native(f"listing the incomplete uploads of bucket {bucket}"):
                page = client.list_multipart_uploads(Bucket=bucket, MaxUploads=PAGE, **marker)
            yield from page.get("Uploads", ())
            if not page.get("IsTruncated"):
                return
            marker = {"KeyMarker": str(page["NextKeyMarker"]), "UploadIdMarker": str(page["NextUploadIdMarker"])}

    def _parts(self, client: Any, location: S3Url, upload: str) -> list[dict[str, Any]] | None:
        """The parts an incomplete upload holds, or ``None`` when it is gone (completed or aborted)."""
        errors: Any = self._errors
        parts: list[dict[str, Any]] = []
        marker: dict[str, int] = {}
        with self._native(f"reading the incomplete upload {upload} of {location.name}"):
            while True:
                try:
                    page = client.list_parts(Bucket=location.bucket, Key=location.key, UploadId=upload, **marker)
                except errors.ClientError as error:
                    if str(error.response.get("Error", {}).get("Code", "")) in NO_UPLOAD_CODES:
                        return None
                    raise
                parts.extend(page.get("Parts", ()))
                if not page.get("IsTruncated"):
                    return parts
                marker = {"PartNumberMarker": int(page["NextPartNumberMarker"])}

    def examine(self, piece: StoredPiece) -> Examined:
        """A HEAD of the object; for an upload, its parts (size, newest) and its initiation."""
        try:
            location, client = self._locate(piece.url)
            if piece.area != MULTIPART:
                return self._examine_object(client, location)
            parts = self._parts(client, location, str(piece.trash_id))
        except (LocationBlocked, LocationFailed) as problem:
            return Examined(exists=True, blockers=(str(problem),))
        if parts is None:
            return Examined(exists=False)
        initiated = self._uploads_seen().get(str(piece.trash_id))
        times = [when for when in (naive_utc(part.get("LastModified")) for part in parts) if when]
        if initiated is not None:
            times.append(initiated)
        return Examined(
            exists=True,
            bytes=sum(int(part.get("Size", 0) or 0) for part in parts),
            created_at=initiated,
            last_activity=max(times, default=None),
            partial=True,
        )

    def _examine_object(self, client: Any, location: S3Url) -> Examined:
        errors: Any = self._errors
        with self._native(f"reading S3 object {location.name}"):
            try:
                answer = client.head_object(Bucket=location.bucket, Key=location.key)
            except errors.ClientError as error:
                if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return Examined(exists=False)
                raise
        written = naive_utc(answer.get("LastModified"))
        return Examined(
            exists=True, bytes=int(answer.get("ContentLength", 0)), created_at=written, last_activity=written
        )

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        """An object as scrub erases it; an incomplete upload aborted (its parts go with it)."""
        if piece.area != MULTIPART:
            return self.erase(piece.url, dry_run=dry_run)
        location, client = self._locate(piece.url)
        upload = str(piece.trash_id)
        what = f"incomplete upload {upload} of {location.name}"
        parts = self._parts(client, location, upload)
        if parts is None:
            return EraseResult(EraseOutcome.ALREADY_GONE, f"{what} already gone", 0)
        size = sum(int(part.get("Size", 0) or 0) for part in parts)
        if dry_run:
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would abort {what}", size)
        errors: Any = self._errors
        with self._native(f"aborting {what}"):
            try:
                client.abort_multipart_upload(Bucket=location.bucket, Key=location.key, UploadId=upload)
            except errors.ClientError as error:
                if str(error.response.get("Error", {}).get("Code", "")) in NO_UPLOAD_CODES:
                    return EraseResult(EraseOutcome.ALREADY_GONE, f"{what} already gone", 0)
                raise
        return EraseResult(EraseOutcome.ERASED, f"aborted {what}", size)

    def read_chunks(self, url: str) -> Iterator[bytes]:
        """The object's bytes, streamed in chunks of 8 MiB."""
        location, client = self._locate(url)
        if self._head(client, location) is None:
            raise LocationFailed(f"S3 object {location.name} is gone")
        with self._native(f"reading S3 object {location.name}"):
            body = client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
            try:
                yield from body.iter_chunks(READ_CHUNK)
            finally:
                body.close()

    def scope(self) -> tuple[str, ...]:
        """``s3:<bucket>/`` of the store's bucket."""
        return (f"s3:{self.bucket}/",) if self.bucket else ()

    # -- matching -----------------------------------------------------------------------------

    def piece_key(self, url: str) -> str:
        """``s3:<bucket>/<key>`` of any S3 URL form."""
        location = parse_url(url)
        return s3_key(location.bucket, location.key)

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        """The URL without keys (glance_store 5.6+) and with the store's keys (up to 5.5)."""
        texts = [piece.url]
        keys = f"{self.access_key}:{self._secret_key}"
        if self.access_key and self._secret_key and keys.count(":") == 1 and "@" not in keys:
            scheme, _, rest = piece.url.partition("://")
            texts.append(f"{scheme}://{keys}@{rest}")
        return tuple(texts)
