"""The small typed interface every deleter implements, and its error vocabulary.

A deleter erases the data behind one location URL of one store. It maps its backend's native
errors onto three outcomes: :class:`LocationBlocked` (the data must not be erased now, by policy or
because something depends on it), :class:`LocationFailed` (erasing was tried and failed), and
:class:`scrubctl.errors.BackendUnavailableError` (the whole store cannot be reached). Data that is
already gone is success (:attr:`EraseOutcome.ALREADY_GONE`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

from scrubctl.settings.config import StoreConfig


class EraseOutcome(enum.Enum):
    """What happened to one location's data."""

    ERASED = "erased"
    ALREADY_GONE = "already_gone"
    WOULD_ERASE = "would_erase"
    TRASHED = "trashed"


@dataclass(frozen=True)
class EraseResult:
    """The outcome of erasing one location, with the bytes freed when known and a detail."""

    outcome: EraseOutcome
    detail: str = ""
    bytes_freed: int | None = None


@dataclass(frozen=True)
class EraseProgress:
    """How far one erase has come: ``done`` of ``total`` pieces (RBD objects, Swift segments), and
    the bytes those pieces held when the store says so."""

    done: int
    total: int
    unit: str
    bytes_done: int | None = None

    @property
    def fraction(self) -> float:
        """``done / total``, between 0 and 1 (0 while the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


# Called by a deleter while an erase goes on, from whatever thread does the work (librbd's own
# threads included): the callee must be thread-safe and quick.
ProgressCallback = Callable[[EraseProgress], None]


class LocationBlocked(Exception):
    """The location's data must not be erased as things stand; ``str()`` is the reason."""


class LocationFailed(Exception):
    """Erasing the location's data was tried and failed; ``str()`` is the reason."""


class Deleter(Protocol):
    """Erases, checks and explains the data behind the location URLs of one store."""

    def erase(self, url: str, *, dry_run: bool) -> EraseResult:
        """Erase the data behind ``url``; with ``dry_run``, check everything and erase nothing."""
        ...

    def exists(self, url: str) -> bool:
        """Tell whether the data behind ``url`` is still there (raises :class:`LocationBlocked`
        for a URL this store must not touch)."""
        ...

    def blockers(self, url: str) -> list[str]:
        """Return the reasons the data behind ``url`` cannot be erased now (empty: nothing blocks)."""
        ...

    def check(self) -> list[str]:
        """Probe the store as ``scrubctl check`` does (reachable, writable, credentials work);
        return the problems found, empty when healthy."""
        ...

    def close(self) -> None:
        """Release connections held for the run."""
        ...


class ProgressReporting(Deleter, Protocol):
    """A deleter whose long erases say how far they have come (``reports_progress = True``)."""

    reports_progress: bool

    def erase(self, url: str, *, dry_run: bool, progress: ProgressCallback | None = None) -> EraseResult:
        """As :meth:`Deleter.erase`; ``progress`` is called as pieces of the data go."""
        ...


def erase_reporting(
    deleter: Deleter, url: str, *, dry_run: bool, progress: ProgressCallback | None = None
) -> EraseResult:
    """Erase through ``deleter``, handing it ``progress`` when it reports progress."""
    if progress is not None and getattr(deleter, "reports_progress", False):
        return cast(ProgressReporting, deleter).erase(url, dry_run=dry_run, progress=progress)
    return deleter.erase(url, dry_run=dry_run)


# A deleter factory: the store's settings and run-wide options (such as ``rbd_clones``; ``debug`` is
# ``true`` under ``--debug``) in, a deleter out.
# A factory (a deleter class) may also say ``erases_locally = True``: its erases are local calls that
# take microseconds (a file's unlink), so a scrub may claim larger batches of images whose every
# location it serves (see :mod:`scrubctl.engine.batches`); without it, its erases count as remote.
# And ``reports_progress = True``: its ``erase`` then also takes a ``progress`` keyword, a
# :data:`ProgressCallback` it calls as pieces go (:class:`ProgressReporting`); without it, a run shows
# only when each erase starts and ends.
DeleterFactory = Callable[[StoreConfig, Mapping[str, str]], Deleter]
