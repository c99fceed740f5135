"""Deleters, registered by location URL scheme through the ``scrubctl.deleters`` entry-point group.

A third party adds a scheme no built-in serves without touching scrubctl by declaring, in its own
package::

    [project.entry-points."scrubctl.deleters"]
    cinder = "mypackage.cinder:CinderDeleter"

The object named must be a :data:`~scrubctl.backends.base.DeleterFactory` (a class whose
constructor takes ``(store, options)`` is one). It is imported on first use only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from importlib import import_module
from importlib.metadata import entry_points
from types import MappingProxyType

from scrubctl.backends.base import Deleter, DeleterFactory, LocationBlocked
from scrubctl.settings.config import SCHEME_DRIVERS, StoreConfig

ENTRY_POINT_GROUP = "scrubctl.deleters"

# Built-ins, also declared as entry points in pyproject.toml (tests/backends/test_deleter_registry.py keeps the
# two the same); listed here so a source checkout that was never installed still finds them.
BUILTIN_DELETERS = {
    "file": "scrubctl.backends.file:FileDeleter",
    "rbd": "scrubctl.backends.rbd:RbdDeleter",
    "swift": "scrubctl.backends.swift:SwiftDeleter",
    "swift+http": "scrubctl.backends.swift:SwiftDeleter",
    "swift+https": "scrubctl.backends.swift:SwiftDeleter",
    "swift+config": "scrubctl.backends.swift:SwiftDeleter",
    "s3": "scrubctl.backends.s3:S3Deleter",
    "s3+http": "scrubctl.backends.s3:S3Deleter",
    "s3+https": "scrubctl.backends.s3:S3Deleter",
}

logger = logging.getLogger(__name__)


def scheme_for_driver(driver: str) -> str:
    """The URL scheme a Glance driver's deleter is registered under (the first scheme of
    ``SCHEME_DRIVERS`` that driver serves: ``file``, ``rbd``, ``swift``, ``s3``...); a driver no
    scheme names is taken as its own scheme."""
    return next((scheme for scheme, served in SCHEME_DRIVERS.items() if served == driver), driver)


def _discover() -> dict[str, str]:
    targets = dict(BUILTIN_DELETERS)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        known = targets.get(entry.name)
        if known is not None and known != entry.value:
            logger.warning("ignoring deleter %s for %s:// (already provided by %s)", entry.value, entry.name, known)
            continue
        targets[entry.name] = entry.value
    return targets


class DeleterRegistry:
    """A read-only view of the deleters available, by URL scheme."""

    def __init__(self, targets: Mapping[str, str] | None = None, options: Mapping[str, str] | None = None) -> None:
        self._targets = MappingProxyType(dict(targets) if targets is not None else _discover())
        self._loaded: dict[str, DeleterFactory] = {}
        self.options = MappingProxyType(dict(options or {}))  # every pool's deleters get them (``debug``)

    @property
    def schemes(self) -> Mapping[str, str]:
        """Every scheme with a deleter, mapped to the ``module:attribute`` that provides it."""
        return self._targets

    def supports(self, scheme: str) -> bool:
        """Tell whether a deleter is registered for ``scheme``."""
        return scheme in self._targets

    def kind_schemes(self, scheme: str) -> tuple[str, ...]:
        """Every scheme served by the same deleter as ``scheme`` (``swift``, ``swift+https``...), which
        therefore share its inventories; ``(scheme,)`` for a scheme without a deleter."""
        target = self._targets.get(scheme)
        if target is None:
            return (scheme,)
        return tuple(name for name, served in self._targets.items() if served == target)

    def factory(self, scheme: str) -> DeleterFactory:
        """Import and return the factory for ``scheme``; raise :class:`LocationBlocked` if none."""
        if scheme in self._loaded:
            return self._loaded[scheme]
        target = self._targets.get(scheme)
        if target is None:
            raise LocationBlocked(f"no deleter for {scheme}:// locations")
        module_name, _, attribute = target.partition(":")
        try:
            factory: DeleterFactory = getattr(import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise LocationBlocked(f"the deleter for {scheme}:// cannot be loaded: {error}") from None
        self._loaded[scheme] = factory
        return factory

    def erases_locally(self, scheme: str) -> bool:
        """Whether the deleter for ``scheme`` says its erases are local calls (``erases_locally``);
        ``False`` for a scheme without a deleter that loads."""
        try:
            return bool(getattr(self.factory(scheme), "erases_locally", False))
        except LocationBlocked:
            return False


class DeleterPool:
    """One deleter per store for the length of a run, created on first use, closed at the end.

    Schemes served by the same factory (``swift``, ``swift+https``...) share the store's deleter,
    and so its connection."""

    def __init__(self, registry: DeleterRegistry, options: Mapping[str, str] | None = None) -> None:
        self._registry = registry
        self._options = {**registry.options, **(options or {})}
        self._deleters: dict[tuple[str, str | None, str], Deleter] = {}
        self._failures: dict[tuple[str, str | None, str], LocationBlocked] = {}
        self._lock = threading.Lock()

    @property
    def registry(self) -> DeleterRegistry:
        """The registry the deleters come from."""
        return self._registry

    def get(self, scheme: str, store: StoreConfig) -> Deleter:
        """Return the deleter for locations of ``scheme`` in ``store``."""
        key = (self._registry.schemes.get(scheme, scheme), store.name, store.group)
        with self._lock:
            if key in self._deleters:
                return self._deleters[key]
            if key in self._failures:
                raise self._failures[key]
            try:
                deleter = self._registry.factory(scheme)(store, self._options)
            except LocationBlocked as blocked:
                self._failures[key] = blocked
                raise
            self._deleters[key] = deleter
            return deleter

    def erases_locally(self, scheme: str) -> bool:
        """Whether erasing ``scheme`` locations is a local call (see :meth:`DeleterRegistry.erases_locally`)."""
        return self._registry.erases_locally(scheme)

    def close(self) -> None:
        """Close every deleter created."""
        with self._lock:
            for deleter in self._deleters.values():
                try:
                    deleter.close()
                except Exception:
                    logger.exception("error while closing a deleter")
            self._deleters.clear()
