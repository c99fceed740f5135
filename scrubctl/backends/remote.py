"""What the deleters of remote object stores (``swift``, ``s3``) share: their timeout, the hint for
a missing client library, what a refusal of credentials means, keeping the credentials they hold
out of every message, and the calls that only look (:class:`RemoteDeleter`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from types import ModuleType
from typing import Any

from scrubctl.backends.base import LocationBlocked, LocationFailed
from scrubctl.errors import BackendUnavailableError, ConfigError
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.secrets import MASK, mask_url

TIMEOUT_OPTION = "scrubctl_store_timeout"
DEFAULT_TIMEOUT_SECONDS = 30.0


def store_timeout(store: StoreConfig) -> tuple[float, str | None]:
    """The bound on every call to the store, in seconds (``scrubctl_store_timeout`` in the store's
    section, 30 s when unset or 0), and the configuration problem when the value is unusable."""
    try:
        configured = store.get_float(TIMEOUT_OPTION, 0.0)
    except ConfigError as error:
        return DEFAULT_TIMEOUT_SECONDS, str(error)
    return (configured if configured > 0 else DEFAULT_TIMEOUT_SECONDS), None


class CredentialsRefused(LocationFailed):
    """The store (or its Keystone) refused the credentials a call was made with (HTTP 401 or 403).

    A deleter turns it into :func:`refusal`'s answer before it leaves the deleter."""


def refusal(refused: CredentialsRefused, *, from_location: bool, options: str) -> Exception:
    """What a refusal of credentials means for the run.

    Credentials a location URL carries (older Glance wrote them into the URL) concern that location
    only: its erase failed (:class:`LocationFailed`, exit 1). Credentials of the store's configuration
    (named by ``options``) concern every location of the store: the store is unusable as configured
    (:class:`BackendUnavailableError`, exit 3). Neither is a blocked image: keys do not mend
    themselves, so a timer's run must fail and say so."""
    if from_location:
        return LocationFailed(f"{refused} (the credentials in the location URL)")
    return BackendUnavailableError(f"{refused}: the store's credentials are wrong ({options})")


def dependency_hint(module: str, package: str, extra: str) -> str:
    """``python-swiftclient is not installed: pip install 'scrubctl[swift]' ...``."""
    return (
        f"{package} is not installed ({module} cannot be imported): pip install 'scrubctl[{extra}]' "
        f"(or pip install {package} into scrubctl's environment)"
    )


def optional_module(name: str) -> ModuleType | None:
    """Import a client library, or return ``None`` when it is not installed."""
    try:
        return import_module(name)
    except ImportError:
        return None


class SecretMask:
    """The credentials a deleter has seen, masked out of any text before it leaves the deleter."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        """Remember secrets (keys, passwords, tokens) to mask; very short values are ignored."""
        with self._lock:
            self._values.update(value for value in values if value and len(value) >= 3)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)
        return mask_url(text)


class RemoteDeleter:
    """The base of a remote object store's deleter: what a refusal of credentials means for the run
    (:meth:`_refusals`), :meth:`exists` and :meth:`blockers` as a HEAD of the object, and
    :meth:`check`. The store
    names ``credential_options`` and implements the methods that raise ``NotImplementedError``."""

    credential_options = ""  # the store's options holding its credentials, named when they are refused
    mask: SecretMask
    _down: str | None  # why the store is down for the rest of the run, once it is

    def _bindings_hint(self) -> str | None:
        """How to install the store's client library when it is missing; ``None`` when installed."""
        raise NotImplementedError

    def _url_credentials(self, url: str) -> bool:
        """Whether ``url`` carries the credentials it is read with (older Glance wrote them into it)."""
        raise NotImplementedError

    def _locate(self, url: str) -> tuple[Any, Any]:
        """``(location, connection)`` for ``url``, or raise :class:`LocationBlocked`."""
        raise NotImplementedError

    def _head(self, connection: Any, location: Any) -> object | None:
        """What a HEAD of the object answers; ``None`` when it is gone."""
        raise NotImplementedError

    def _probe(self) -> list[str]:
        """Reach the store as configured (its credentials, its bucket or container): the problems
        found; raising one of the deleters' errors is one too."""
        raise NotImplementedError

    @contextmanager
    def _refusals(self, url: str) -> Iterator[None]:
        """Credentials refused: the location's erase failed when its URL carries them; otherwise the
        store's configuration is wrong and the store is unusable for the rest of the run (exit 3)."""
        try:
            yield
        except CredentialsRefused as refused:
            meaning = refusal(refused, from_location=self._url_credentials(url), options=self.credential_options)
            if isinstance(meaning, BackendUnavailableError):
                self._down = self.mask(str(meaning))
                raise BackendUnavailableError(self._down) from None
            raise LocationFailed(self.mask(str(meaning))) from None

    def exists(self, url: str) -> bool:
        """Whether the object (or the manifest of a large one) answers a HEAD."""
        with self._refusals(url):
            location, connection = self._locate(url)
            return self._head(connection, location) is not None

    def blockers(self, url: str) -> list[str]:
        """What reading the object would meet (a URL outside the store, missing or refused credentials);
        changes nothing."""
        hint = self._bindings_hint()
        if hint is not None:
            raise LocationBlocked(hint)
        try:
            location, connection = self._locate(url)
            self._head(connection, location)
        except (LocationBlocked, LocationFailed) as problem:
            return [str(problem)]
        return []

    def check(self) -> list[str]:
        """Probe the store as ``scrubctl check`` does: its client library installed, then
        :meth:`_probe`; the problems found, empty when healthy."""
        hint = self._bindings_hint()
        if hint is not None:
            return [hint]
        try:
            return self._probe()
        except (BackendUnavailableError, LocationBlocked, LocationFailed) as problem:
            return [self.mask(str(problem))]
