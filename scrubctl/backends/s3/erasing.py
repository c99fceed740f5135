"""The S3 deleter's reading and erasing: one client per store and key pair, HEAD then DELETE,
uploads aborted."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed
from scrubctl.backends.remote import (
    CredentialsRefused,
    RemoteDeleter,
    SecretMask,
    dependency_hint,
    optional_module,
    store_timeout,
)
from scrubctl.backends.s3.urls import S3Url, host_of, parse_url
from scrubctl.errors import BackendUnavailableError
from scrubctl.settings.config import StoreConfig

BINDINGS_HINT = dependency_hint("boto3", "boto3", "s3")
ADDRESSING_STYLES = ("auto", "virtual", "path")
CREDENTIAL_CODES = frozenset(
    {"403", "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken"}
)
MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
MAX_POOL_CONNECTIONS = 32


class S3Erasing(RemoteDeleter):
    """Reads and erases the objects behind the locations of one S3 store (see the package docstring):
    the deleter's :meth:`erase` and what its inventory uses."""

    credential_options = "s3_store_access_key, s3_store_secret_key"

    def __init__(self, store: StoreConfig, options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.timeout, self._problem = store_timeout(store)
        self.endpoint = (store.get("s3_store_host") or "").strip()
        self.region = store.get("s3_store_region_name") or None
        self.style = (store.get("s3_store_bucket_url_format") or "auto").strip().lower()
        self.cacert = store.get("s3_store_cacert") or None
        self.bucket = store.get("s3_store_bucket") or None
        self.access_key = store.get("s3_store_access_key") or None
        self._secret_key = store.get("s3_store_secret_key") or None
        if not self.endpoint:
            self._problem = self._problem or f"store {store.label} has no s3_store_host"
        elif self.style not in ADDRESSING_STYLES:
            self._problem = f"s3_store_bucket_url_format {self.style!r} is not auto, virtual or path"
        self.mask = SecretMask()
        self.mask.add(self._secret_key)
        self._boto3 = optional_module("boto3")
        self._botocore_config = optional_module("botocore.config")
        self._errors = optional_module("botocore.exceptions")
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._down: str | None = None

    # -- connection ---------------------------------------------------------------------------

    def _endpoint_url(self, scheme: str) -> str:
        """``s3_store_host`` as Glance calls it; without a scheme, the location's decides."""
        if "://" in self.endpoint:
            return self.endpoint
        return ("https://" if scheme == "s3+https" else "http://") + self.endpoint

    def _credentials(self, location: S3Url) -> tuple[str, str]:
        """The URL's keys when it carries them (glance_store up to 5.5), else the store's."""
        if location.access_key and location.secret_key:
            self.mask.add(location.secret_key)
            return location.access_key, location.secret_key
        if self.access_key and self._secret_key:
            return self.access_key, self._secret_key
        raise LocationBlocked(
            f"no S3 credentials: the URL carries none and store {self.store.label} sets no "
            "s3_store_access_key/s3_store_secret_key"
        )

    def _client(self, location: S3Url) -> Any:
        """One client per key pair for the run (normally one), shared by the worker threads."""
        if self._boto3 is None or self._botocore_config is None:
            raise LocationBlocked(BINDINGS_HINT)
        if self._problem is not None:
            raise BackendUnavailableError(f"store {self.store.label}: {self._problem}")
        if self._down is not None:
            raise BackendUnavailableError(self._down)
        access, secret = self._credentials(location)
        with self._lock:
            client = self._clients.get((access, secret))
            if client is None:
                config = self._botocore_config.Config(
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    s3={"addressing_style": self.style},
                    max_pool_connections=MAX_POOL_CONNECTIONS,
                )
                client = self._boto3.session.Session().client(
                    "s3",
                    endpoint_url=self._endpoint_url(location.scheme),
                    aws_access_key_id=access,
                    aws_secret_access_key=secret,
                    region_name=self.region,
                    verify=self.cacert if self.cacert else None,
                    config=config,
                )
                self._clients[(access, secret)] = client
            return client

    def _bindings_hint(self) -> str | None:
        return BINDINGS_HINT if self._boto3 is None else None

    def _url_credentials(self, url: str) -> bool:
        location = parse_url(url)
        return bool(location.access_key and location.secret_key)

    def _locate(self, url: str) -> tuple[S3Url, Any]:
        """Parse, check the URL names this store's host, and get a client."""
        if self._boto3 is None:
            raise LocationBlocked(BINDINGS_HINT)
        location = parse_url(url)
        if location.secret_key:
            self.mask.add(location.secret_key)
        if self.endpoint and location.host.lower() != host_of(self.endpoint):
            raise LocationBlocked(
                f"URL names S3 host {location.host}, but store {self.store.label} is {host_of(self.endpoint)} "
                "(s3_store_host); it is not this store's object"
            )
        return location, self._client(location)

    @contextmanager
    def _native(self, doing: str) -> Iterator[None]:
        """Map botocore's errors onto our vocabulary; an unreachable endpoint is down for the run."""
        errors: Any = self._errors
        try:
            yield
        except errors.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in CREDENTIAL_CODES or status == 403:
                raise CredentialsRefused(self.mask(f"{doing}: S3 refused the credentials ({code or status})")) from None
            raise LocationFailed(self.mask(f"{doing} failed: {code or status}: {error}")) from None
        except (errors.EndpointConnectionError, errors.ConnectionError, errors.HTTPClientError) as error:
            self._down = self.mask(
                f"S3 store {self.store.label} ({self.endpoint}): {doing}: no answer within {self.timeout:g} s "
                f"or connection refused ({type(error).__name__})"
            )
            raise BackendUnavailableError(self._down) from None
        except errors.NoCredentialsError:
            raise LocationBlocked(f"{doing}: no S3 credentials") from None

    def _missing(self, error: Any) -> bool:
        code = str(error.response.get("Error", {}).get("Code", ""))
        return code in MISSING_CODES or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404

    def _head(self, client: Any, location: S3Url) -> int | None:
        """The object's size, or ``None`` when it is gone (S3 answers 404, bucket or key)."""
        errors: Any = self._errors
        with self._native(f"reading S3 object {location.name}"):
            try:
                answer = client.head_object(Bucket=location.bucket, Key=location.key)
            except errors.ClientError as error:
                if self._missing(error):
                    return None
                raise
        return int(answer.get("ContentLength", 0))

    def _uploads(self, client: Any, location: S3Url) -> list[str]:
        """The ids of every incomplete multipart upload of exactly this key (all pages)."""
        errors: Any = self._errors
        found: list[str] = []
        marker: dict[str, str] = {}
        with self._native(f"listing incomplete uploads of {location.name}"):
            while True:
                try:
                    page = client.list_multipart_uploads(Bucket=location.bucket, Prefix=location.key, **marker)
                except errors.ClientError as error:
                    if self._missing(error):
                        return found
                    raise
                found.extend(str(item["UploadId"]) for item in page.get("Uploads", []) if item["Key"] == location.key)
                if not page.get("IsTruncated"):
                    return found
                marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def _abort(self, client: Any, location: S3Url, uploads: list[str]) -> int:
        errors: Any = self._errors
        aborted = 0
        with self._native(f"aborting incomplete uploads of {location.name}"):
            for upload in uploads:
                try:
                    client.abort_multipart_upload(Bucket=location.bucket, Key=location.key, UploadId=upload)
                    aborted += 1
                except errors.ClientError as error:
                    if not self._missing(error):  # an upload completed or aborted meanwhile
                        raise
        return aborted

    # -- erasing ------------------------------------------------------------------------------

    def erase(self, url: str, *, dry_run: bool) -> EraseResult:
        """HEAD the object (a DELETE of a missing key also succeeds), DELETE it, then abort the
        incomplete multipart uploads of the same key."""
        with self._refusals(url):
            return self._erase(url, dry_run=dry_run)

    def _erase(self, url: str, *, dry_run: bool) -> EraseResult:
        location, client = self._locate(url)
        size = self._head(client, location)
        uploads = self._uploads(client, location) if dry_run or size is None else []
        pending = f" and {len(uploads)} incomplete upload(s)" if uploads else ""
        if dry_run:
            if size is None:
                return EraseResult(EraseOutcome.ALREADY_GONE, f"S3 object {location.name} already gone{pending}", 0)
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would delete S3 object {location.name}{pending}", size)
        if size is not None:
            with self._native(f"deleting S3 object {location.name}"):
                client.delete_object(Bucket=location.bucket, Key=location.key)
            uploads = self._uploads(client, location)
        aborted = self._abort(client, location, uploads)
        extra = f"; aborted {aborted} incomplete upload(s)" if aborted else ""
        if size is None:
            return EraseResult(EraseOutcome.ALREADY_GONE, f"S3 object {location.name} already gone{extra}", 0)
        return EraseResult(EraseOutcome.ERASED, f"deleted S3 object {location.name}{extra}", size)
