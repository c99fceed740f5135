"""A Swift store's sessions: one authentication per store and credentials (tokens renewed after
half an hour), one HTTP connection per thread and storage URL, one TLS context, and the mapping of
Swift's, swiftclient's and requests' errors onto scrubctl's (an endpoint that does not answer is down
for the rest of the run)."""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.backends.remote import CredentialsRefused, SecretMask, optional_module, store_timeout
from scrubctl.backends.swift.auth import Credentials, keystone_v3, location_credentials
from scrubctl.backends.swift.objects import ObjectClient, SwiftHttpError, tls_context
from scrubctl.backends.swift.urls import SwiftUrl, truthy
from scrubctl.errors import BackendUnavailableError
from scrubctl.settings.config import StoreConfig

DEFAULT_CONTAINER = "glance"
# A token is used for at most this long, then asked for again (Keystone's default lifetime is an
# hour; a long run must not outlive it).
TOKEN_REUSE_SECONDS = 1800.0


class SwiftSessions:
    """The sessions and connections of one Swift store for one run (the deleter's base)."""

    def __init__(self, store: StoreConfig, options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.timeout, self._problem = store_timeout(store)
        self.container = store.get("swift_store_container") or DEFAULT_CONTAINER
        self.insecure = truthy(store.get("swift_store_auth_insecure"))
        self.cacert = store.get("swift_store_cacert") or None
        self.mask = SecretMask()
        self._client = optional_module("swiftclient.client")
        self._requests = optional_module("requests")
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, ...], tuple[str, str, float]] = {}
        self._authenticating: dict[tuple[str, ...], threading.Lock] = {}
        self._references: dict[str, Credentials] = {}
        self._local = threading.local()
        self._tls: ssl.SSLContext | None = None
        self._down: str | None = None

    # -- authentication and connections ---------------------------------------------------------

    def _authenticate(self, credentials: Credentials) -> tuple[str, str]:
        """``(storage URL, token)``, once per credentials for the run."""
        self.mask.add(*credentials.secrets)
        key = (credentials.auth_url, credentials.user, credentials.key, credentials.version, credentials.where)
        with self._lock:
            authenticating = self._authenticating.setdefault(key, threading.Lock())
        with authenticating:  # one thread authenticates; the others wait for its token
            with self._lock:
                known = self._sessions.get(key)
            if known is not None and time.monotonic() - known[2] < TOKEN_REUSE_SECONDS:
                return known[0], known[1]
            if self._down is not None:  # the endpoint went down while this thread waited
                raise BackendUnavailableError(self._down)
            return self._new_session(credentials, key)

    def _new_session(self, credentials: Credentials, key: tuple[str, ...]) -> tuple[str, str]:
        """Authenticate with ``credentials``; the session is kept under ``key``."""
        client: Any = self._client
        doing = f"authenticating to {credentials.auth_url} ({credentials.where})"
        with self._native(doing):
            if credentials.version == "3":
                verify: bool | str = self.cacert or not self.insecure
                session = keystone_v3(self._requests, credentials, self.store, timeout=self.timeout, verify=verify)
            elif credentials.version == "1":
                session = client.get_auth(
                    credentials.auth_url,
                    credentials.user,
                    credentials.key,
                    auth_version="1",
                    timeout=self.timeout,
                    insecure=self.insecure,
                    cacert=self.cacert,
                )
                endpoint = self.store.get("swift_store_endpoint")
                session = (endpoint or session[0], session[1])
            else:
                raise LocationBlocked(f"{doing}: auth version {credentials.version} is not supported (use 3, or 1)")
        self.mask.add(session[1])
        with self._lock:
            self._sessions[key] = (str(session[0]), str(session[1]), time.monotonic())
        return str(session[0]), str(session[1])

    def _connection(self, storage_url: str, token: str) -> ObjectClient:
        """A connection of this thread to one storage URL (HTTP connections are not shared by threads)."""
        connections: dict[tuple[str, str], ObjectClient] = self._local.__dict__.setdefault("connections", {})
        connection = connections.get((storage_url, token))
        if connection is None:
            for stale in [key for key in connections if key[0] == storage_url]:  # a token renewed
                connections.pop(stale).close()
            connection = ObjectClient(storage_url, token, timeout=self.timeout, tls=self._tls_context())
            connections[(storage_url, token)] = connection
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        """One TLS context for the run (reading the CA file once)."""
        with self._lock:
            if self._tls is None:
                try:
                    self._tls = tls_context(insecure=self.insecure, cacert=self.cacert)
                except (OSError, ssl.SSLError) as error:
                    raise LocationBlocked(f"swift_store_cacert {self.cacert} cannot be used: {error}") from None
            return self._tls

    def _credentials(self, location: SwiftUrl) -> Credentials:
        """The location's credentials; those of a reference are read once per run."""
        if location.reference is None and not location.multi_tenant:
            return location_credentials(self.store, location)
        key = location.reference or ""
        with self._lock:
            known = self._references.get(key)
        if known is None:
            known = location_credentials(self.store, location)
            with self._lock:
                self._references[key] = known
        return known

    @contextmanager
    def _native(self, doing: str) -> Iterator[None]:
        """Map the errors of the object calls, swiftclient's and requests' onto our vocabulary;
        unreachable is down for the run."""
        client: Any = self._client
        requests: Any = self._requests
        try:
            yield
        except SwiftHttpError as error:
            if error.status in (401, 403):
                raise CredentialsRefused(
                    self.mask(f"{doing}: Swift refused the credentials (HTTP {error.status})")
                ) from None
            raise LocationFailed(self.mask(f"{doing} failed: {error}")) from None
        except client.ClientException as error:
            status = error.http_status
            if status in (401, 403):
                raise CredentialsRefused(self.mask(f"{doing}: Swift refused the credentials (HTTP {status})")) from None
            if status is None:
                self._mark_down(doing, error)
            raise LocationFailed(
                self.mask(f"{doing} failed: HTTP {status} {error.http_reason or ''}".strip())
            ) from None
        except (requests.exceptions.RequestException, OSError, http.client.HTTPException) as error:
            if isinstance(error, requests.exceptions.HTTPError) and error.response is not None:
                raise LocationFailed(self.mask(f"{doing} failed: HTTP {error.response.status_code}")) from None
            self._mark_down(doing, error)

    def _mark_down(self, doing: str, error: BaseException) -> None:
        requests: Any = self._requests
        if isinstance(error, (ssl.SSLError, requests.exceptions.SSLError)):
            why = getattr(error, "verify_message", None) or type(error).__name__
            self._down = self.mask(
                f"Swift store {self.store.label}: {doing}: TLS failed ({why}); the store's CA goes in "
                "swift_store_cacert"
            )
        else:
            self._down = self.mask(
                f"Swift store {self.store.label}: {doing}: no answer within {self.timeout:g} s "
                f"or connection refused ({type(error).__name__})"
            )
        raise BackendUnavailableError(self._down) from None
