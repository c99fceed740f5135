"""Erasing the claimed images of a batch: the erase threads, one image, one location.

The ``concurrency`` erase threads of a run are shared by its lanes; each takes the images of a
claimed batch one at a time and hands what it did (an :class:`~scrubctl.engine.work.ImageWork`) to
the batch's lane, which records it (:mod:`~scrubctl.engine.recording`). Outside a dry run every
erase is in the audit trail before and after the one destructive call, ``Deleter.erase(url,
dry_run=...)``; a dry run reaches that same call with ``dry_run=True``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from scrubctl.backends.base import (
    EraseOutcome,
    EraseProgress,
    LocationBlocked,
    LocationFailed,
    ProgressCallback,
    erase_reporting,
)
from scrubctl.engine.model import LocationResult, PlannedImage
from scrubctl.engine.records import CurrentState
from scrubctl.engine.state import RunState
from scrubctl.engine.work import ImageWork
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.locations import Location
from scrubctl.glance.schema import PENDING_DELETE

logger = logging.getLogger(__name__)

ERASED = frozenset({EraseOutcome.ERASED, EraseOutcome.ALREADY_GONE, EraseOutcome.TRASHED})


class ErasersDone:
    """Put last by each erase thread of a batch: it takes no more of the batch's images."""

    __slots__ = ()


# What the erase threads of a batch hand to its lane: an image's work, None for an image another
# run has, and one ErasersDone a thread.
Ended = queue.SimpleQueue[ImageWork | ErasersDone | None]


def start_erasing(run: RunState, images: list[PlannedImage], state: CurrentState, ended: Ended) -> list[Future[int]]:
    """Hand the claimed ``images`` to the run's erase threads, which take them one at a time and put
    each one's work on ``ended`` as its erase ends, and an :class:`ErasersDone` when they take no
    more. Each returns how many images it left unstarted because the run was stopped."""
    order: Iterator[int] = iter(range(len(images)))
    taking = threading.Lock()

    def erase_some() -> int:
        try:
            while not run.stopping():
                with taking:
                    index = next(order, None)
                if index is None:
                    return 0
                ended.put(erase_image(run, images[index], state))
            with taking:
                return sum(1 for _ in order)
        finally:
            ended.put(ErasersDone())

    pool = run.erase_pool
    assert pool is not None, "the run's erase threads are started before its lanes"
    return [pool.submit(erase_some) for _ in range(max(1, min(run.erasers, len(images))))]


def erase_image(run: RunState, image: PlannedImage, state: CurrentState) -> ImageWork | None:
    """Erase what may be erased of one claimed image; ``None`` when another run has it."""
    status = state.image_status.get(image.id)
    if status is None or (image.whole_image and status != PENDING_DELETE):
        return None
    still_pending = [
        planned for planned in image.locations if state.location_status.get(planned.location.id) == PENDING_DELETE
    ]
    if not image.whole_image and not still_pending:
        return None  # the pending locations of a live image, all recorded by another run since the plan
    run.tools.observer.image_started(image)
    work = ImageWork(image)
    if image.blocked:  # the image as a whole: none of its locations is erased
        work.blocked.append(image.blocked)
        still_pending = []
    for planned in still_pending:  # the others were recorded by someone else since the plan was made
        location = planned.location
        shown = location.shown_url
        if planned.blocked:
            work.blocked.append(f"location {location.id}: {planned.blocked}")
            work.locations.append(LocationResult(location.id, shown, location.store_label, "blocked", planned.blocked))
            continue
        if run.tools.stop.is_set():
            work.failed.append("interrupted before this location")
            work.locations.append(LocationResult(location.id, shown, location.store_label, "skipped", "interrupted"))
            continue
        run.tools.observer.location_started(image, location)
        erase_location(run, work, planned.location)
    live = state.live_locations.get(image.id, [])
    if image.whole_image and live:
        work.blocked.append(f"image still has live location(s) {', '.join(map(str, live))}; not marked deleted")
    work.finished = image.whole_image and not (work.blocked or work.failed)
    return work


def erase_location(run: RunState, work: ImageWork, location: Location) -> None:
    """Erase one location. Outside a dry run the audit trail gets an ``erase`` line with result
    ``started`` before the destructive call and one with the outcome after it, so that a crash
    between the two still leaves the attempt on record."""
    dry_run = run.dry_run
    started = False
    try:
        if location.url is None or location.scheme is None or location.store is None:
            raise LocationBlocked(location.problem or "location cannot be resolved to a store")
        known_down = run.store_down(location.store_label)
        if known_down is not None:
            raise BackendUnavailableError(known_down)
        deleter = run.tools.deleters.get(location.scheme, location.store)
        if not run.may_erase(work.image.id):
            raise LocationFailed("this run's claim on the image could not be renewed in time; not erased")
        if not dry_run:
            unwritten = _audit_location(run, "erase", work, location, "started")
            if unwritten:
                raise LocationFailed(f"not erased: {unwritten}")
            started = True
        outcome = erase_reporting(deleter, location.url, dry_run=dry_run, progress=_progress_of(run, work, location))
    except Exception as error:  # noqa: BLE001 - mapped below; one bad location never stops the run
        kind = _problem(run, work, location, error)
        if started:
            _audit_location(run, "erase", work, location, kind, detail=str(error))
        return
    size = outcome.bytes_freed if outcome.bytes_freed is not None else (work.image.entry.size or 0)
    work.bytes += size
    shown, store, result = location.shown_url, location.store_label, outcome.outcome.value
    work.locations.append(LocationResult(location.id, shown, store, result, outcome.detail, size))
    unwritten = None
    if started:
        action = "trash" if outcome.outcome is EraseOutcome.TRASHED else "erase"
        unwritten = _audit_location(
            run, action, work, location, outcome.outcome.value, detail=outcome.detail, bytes=size
        )
    if unwritten:  # erased, but only its start is on record: the next run finds it already gone
        work.failed.append(f"location {location.id}: {outcome.outcome.value}, but not recorded: {unwritten}")
    elif outcome.outcome in ERASED:
        work.erased_ids.append(location.id)


def _progress_of(run: RunState, work: ImageWork, location: Location) -> ProgressCallback:
    """The callback that passes a deleter's progress on ``location`` to the observer."""
    observer, image = run.tools.observer, work.image

    def progress(step: EraseProgress) -> None:
        observer.location_progress(image, location, step)

    return progress


def _problem(run: RunState, work: ImageWork, location: Location, error: Exception) -> str:
    """Record why a location was not erased; return ``blocked`` or ``failed``."""
    store = location.store_label
    if isinstance(error, LocationBlocked):
        kind, reason = "blocked", str(error)
    elif isinstance(error, (LocationFailed, BackendUnavailableError)):
        kind, reason = "failed", str(error)
    else:
        logger.error("unexpected error erasing location %s", location.id, exc_info=error)
        kind, reason = "failed", f"unexpected {error.__class__.__name__}: {error}"
    if isinstance(error, BackendUnavailableError):
        run.store_unreachable(store, str(error))
    (work.blocked if kind == "blocked" else work.failed).append(f"location {location.id}: {reason}")
    work.locations.append(LocationResult(location.id, location.shown_url, store, kind, reason))
    return kind


def _audit_location(
    run: RunState, action: str, work: ImageWork, location: Location, result: str, **extra: Any
) -> str | None:
    """Write one location's audit line; return why it could not be written, or ``None``."""
    return run.audit(
        action,
        {
            "image_id": work.image.id,
            "location_id": location.id,
            "url": location.shown_url,
            "backend": location.store_label,
            "result": result,
            **extra,
        },
    )
