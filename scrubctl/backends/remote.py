"""What the deleters of remote object stores (``swift``, ``s3``) share: their timeout, the hint for
a missing client library, what a refusal of credentials means, and keeping the credentials they hold
out of every message."""

from __future__ import annotations

import threading
from importlib import import_module
from types import ModuleType

from scrubctl.backends.base import LocationFailed
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
