"""The object calls of the Swift deleter (HEAD, GET of a listing, DELETE), straight on ``http.client``.

A scrub makes two to seven calls per image, and each costs what its client costs on a controller
whose cores the object store may share: through swiftclient (requests and urllib3) a HEAD takes
about 0.5 ms of CPU, through ``http.client`` about 0.15 ms (measured against Ceph RGW; docs/benchmarks.md,
``bench/scrub_swift.py``). Authentication, done once per run, stays with swiftclient (v1) and requests
(Keystone v3).

One :class:`ObjectClient` per thread and storage URL, keeping its connection alive between calls.
Every call is bounded by the store's timeout. A kept-alive connection that the server has closed is
opened again once for the same call (what urllib3 does too): a DELETE repeated that way answers 404
and counts as already gone. The ``http_proxy``/``https_proxy`` environment is not used for these
calls (swiftclient's requests would use it): the storage URL is reached directly.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from scrubctl.backends.base import LocationFailed

# Raised by a reused connection the server closed in the meantime: the call is made again once.
STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class SwiftHttpError(Exception):
    """The store answered a call with an error status (404 is handled by the callers that expect it)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    """One call's status, headers (names in lower case) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def tls_context(*, insecure: bool, cacert: str | None) -> ssl.SSLContext:
    """The TLS context for ``https`` storage URLs, as ``swift_store_auth_insecure`` and
    ``swift_store_cacert`` ask (the system's CAs by default)."""
    context = ssl.create_default_context(cafile=cacert) if cacert else ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ObjectClient:
    """Calls on one storage URL with one token, over one kept-alive connection (not thread-safe:
    each thread has its own)."""

    def __init__(self, storage_url: str, token: str, *, timeout: float, tls: ssl.SSLContext | None) -> None:
        parsed = urlsplit(storage_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise LocationFailed(f"the storage URL is not an http(s) URL: {parsed.scheme}://{parsed.hostname}")
        self.token = token
        self._secure = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port
        self._base = parsed.path.rstrip("/")
        self._timeout = timeout
        self._tls = tls
        self._http: http.client.HTTPConnection | None = None

    # -- the calls ----------------------------------------------------------------------------

    def head_object(self, container: str, name: str) -> dict[str, str]:
        """The object's headers; :class:`SwiftHttpError` for an error status (404 included)."""
        return self._checked("HEAD", _path(container, name)).headers

    def head_container(self, container: str) -> dict[str, str]:
        """The container's headers; :class:`SwiftHttpError` for an error status (404 included)."""
        return self._checked("HEAD", _path(container)).headers

    def delete_object(self, container: str, name: str) -> None:
        """DELETE one object; :class:`SwiftHttpError` for an error status (404 included)."""
        self._checked("DELETE", _path(container, name))

    def delete_container(self, container: str) -> None:
        """DELETE an empty container; :class:`SwiftHttpError` for an error status (404, 409 not empty)."""
        self._checked("DELETE", _path(container))

    def list_objects(self, container: str, *, prefix: str, marker: str, limit: int) -> list[dict[str, Any]]:
        """One page of the container's listing (JSON); :class:`SwiftHttpError` for an error status."""
        query = {"format": "json", "prefix": prefix, "marker": marker, "limit": str(limit)}
        return _json_list(self._checked("GET", _path(container), query).body, container)

    def list_containers(self, *, prefix: str, marker: str, limit: int) -> list[dict[str, Any]]:
        """One page of the account's container listing (JSON); :class:`SwiftHttpError` for an error status."""
        query = {"format": "json", "prefix": prefix, "marker": marker, "limit": str(limit)}
        return _json_list(self._checked("GET", "", query).body, "the account")

    def read_range(self, container: str, name: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of an object; :class:`SwiftHttpError` for an error status."""
        answer = self.call("GET", _path(container, name), None, {"Range": f"bytes={start}-{end}"})
        if answer.status >= 300:
            raise SwiftHttpError(answer.status, http.client.responses.get(answer.status, ""))
        return answer.body

    def call(
        self, method: str, path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """One call under the storage URL, whatever its status (``path`` already quoted)."""
        target = self._base + path
        if query:
            target += "?" + "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items() if value)
        sent = {"X-Auth-Token": self.token, **(headers or {})}
        reused = self._http is not None
        try:
            return self._send(method, target, sent)
        except STALE_CONNECTION:
            self.close()
            if not reused:
                raise
        except BaseException:
            self.close()  # a connection in an unknown state is not used again
            raise
        try:
            return self._send(method, target, sent)  # the server had closed the kept-alive connection
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- plumbing -----------------------------------------------------------------------------

    def _checked(self, method: str, path: str, query: dict[str, str] | None = None) -> Answer:
        answer = self.call(method, path, query)
        if answer.status >= 300:
            raise SwiftHttpError(answer.status, http.client.responses.get(answer.status, ""))
        return answer

    def _send(self, method: str, target: str, headers: dict[str, str]) -> Answer:
        connection = self._connect()
        connection.request(method, target, headers=headers)
        response = connection.getresponse()
        body = response.read()
        answer = Answer(response.status, {key.lower(): value for key, value in response.getheaders()}, body)
        if response.will_close:
            self.close()
        return answer

    def _connect(self) -> http.client.HTTPConnection:
        if self._http is None:
            if self._secure:
                context = self._tls or tls_context(insecure=False, cacert=None)
                self._http = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=context)
            else:
                self._http = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._http


def _path(container: str, name: str | None = None) -> str:
    """``/<container>[/<object>]``, quoted as swiftclient quotes them (``/`` kept in object names)."""
    return f"/{quote(container)}" + (f"/{quote(name)}" if name is not None else "")


def _json_list(body: bytes, what: str) -> list[dict[str, Any]]:
    """A listing page's JSON list (an empty body is an empty page)."""
    if not body:
        return []
    try:
        page = json.loads(body)
    except ValueError:
        page = None
    if not isinstance(page, list):
        raise LocationFailed(f"the listing of {what} is not a JSON list")
    return page
