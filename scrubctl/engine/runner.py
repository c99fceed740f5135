"""Applying a plan: claim, re-check, erase, record; dry-run or not, on one path.

Images are taken in batches by a few lanes, each with its own database connection. A batch is
claimed (:mod:`~scrubctl.coordination.claims`; committed before anything is erased), its rows are
re-read after the claim, and only locations still ``pending_delete`` of images still in the queue
are erased, by ``concurrency`` erase threads shared by all lanes that take the batch's images one at
a time (while one lane records its batch and claims the next, the threads erase another lane's).
Results are recorded with guarded updates in one transaction per batch, after the audit trail has
the record of every erase; a transaction another database node won is run again
(:mod:`~scrubctl.coordination.conflicts`). One failing location or image never stops the run. A dry
run takes no claims and writes nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from scrubctl.backends import DeleterPool
from scrubctl.backends.base import EraseOutcome, LocationBlocked, LocationFailed
from scrubctl.coordination.claims import DEFAULT_TIMEOUT_SECONDS, ClaimSession
from scrubctl.coordination.conflicts import ConflictLostError, RetryPolicy, run_transaction
from scrubctl.engine.batches import LOCAL_BATCH, MAX_BATCH, cut_into_batches, lanes_for, rotated
from scrubctl.engine.model import (
    ImageResult,
    LocationResult,
    NullObserver,
    Observer,
    Plan,
    PlannedImage,
    Report,
    Result,
    RunOptions,
    Summary,
)
from scrubctl.engine.records import (
    CurrentState,
    current_state,
    current_state_of_nothing,
    mark_images_deleted,
    mark_locations_deleted,
    still_to_do,
)
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.database import GlanceDatabase, describe_db_error
from scrubctl.glance.locations import Location
from scrubctl.glance.schema import PENDING_DELETE
from scrubctl.settings.utc import glance_timestamp, iso_utc, utc_now
from scrubctl.unattended.audit import AuditTrail, NullAudit

logger = logging.getLogger(__name__)

RECORD_POLICY = RetryPolicy(attempts=30, first_wait=0.01, longest_wait=1.0)
ERASED = frozenset({EraseOutcome.ERASED, EraseOutcome.ALREADY_GONE, EraseOutcome.TRASHED})


@dataclass(slots=True)
class _ImageWork:
    """What one image's erasing produced, before it is recorded."""

    image: PlannedImage
    locations: list[LocationResult] = field(default_factory=list)
    erased_ids: list[int] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bytes: int = 0
    finished: bool = False


class ScrubRunner:
    """Applies plans against one database with one set of deleters."""

    def __init__(
        self,
        database: GlanceDatabase,
        deleters: DeleterPool,
        *,
        observer: Observer | None = None,
        audit: AuditTrail | None = None,
        stop: threading.Event | None = None,
        claim_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.database = database
        self.claim_timeout = claim_timeout
        self._claims: ClaimSession | None = None
        self._erase_pool: Executor | None = None  # erase threads shared by the lanes (none: lanes erase)
        self._erasers = 1
        self.deleters = deleters
        self.observer = observer or NullObserver()
        self.audit = audit or NullAudit()
        self.stop = stop or threading.Event()
        self._lock = threading.Lock()
        self._unreachable: set[str] = set()
        # Stores found unreachable in this run: their other locations fail at once, not after a timeout each.
        self._down_stores: dict[str, str] = {}

    def run(self, plan: Plan, options: RunOptions) -> Report:
        """Apply ``plan``, which is handed over (:meth:`Plan.hand_over`: it is empty afterwards);
        return the report (the database is changed unless ``options.dry_run``)."""
        started = time.monotonic()
        report = Report(Summary(dry_run=options.dry_run, started_at=iso_utc(utc_now()) or ""))
        for image_id, reason in plan.missing:
            self._finish(report, ImageResult(image_id, None, Result.BLOCKED, reason, 0, ()))
        images = plan.hand_over()
        batches, count, order = _queued(images, options, self._largest_batch(images))
        del images  # the queue holds the images now (see _queued)
        report.summary.selected = count + len(plan.missing)
        lanes = max(1, min(lanes_for(options), batches.qsize()))
        erasers = max(1, min(options.concurrency, count or 1))
        if not options.dry_run and count:
            self._claims = ClaimSession(self.database.engine, purpose="scrub", timeout_seconds=self.claim_timeout)
            self._claims.start()
        try:
            with (
                ThreadPoolExecutor(max_workers=erasers, thread_name_prefix="erase") as erase_pool,
                ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="scrub") as lane_pool,
            ):
                self._erase_pool, self._erasers = (erase_pool if erasers > 1 else None), erasers
                futures = [lane_pool.submit(self._worker, batches, options, report) for _ in range(lanes)]
                for future in futures:
                    future.result()
        finally:
            self._erase_pool = None
            if self._claims is not None:
                self._claims.close()
                self._claims = None
        report.images.sort(key=lambda result: order.get(result.id, -1))
        while not batches.empty():
            report.summary.not_started += len(batches.get())
        report.summary.interrupted = self.stop.is_set()
        report.summary.unreachable = sorted(self._unreachable)
        report.summary.duration_seconds = round(time.monotonic() - started, 3)
        return report

    def _largest_batch(self, images: tuple[PlannedImage, ...]) -> int:
        """:data:`LOCAL_BATCH` when every location of ``images`` is in a store whose erases are
        local calls (its deleter's ``erases_locally``), else :data:`MAX_BATCH`."""
        schemes = {item.location.scheme for image in images for item in image.locations}
        local = all(scheme is None or self.deleters.erases_locally(scheme) for scheme in schemes)
        return LOCAL_BATCH if local else MAX_BATCH

    def _worker(self, batches: queue.SimpleQueue[list[PlannedImage]], options: RunOptions, report: Report) -> None:
        try:
            with self.database.connect() as connection:
                if not options.dry_run:
                    connection.execution_options(sqlite_write=True)  # SQLite: writes BEGIN IMMEDIATE
                while not self._stopping():
                    try:
                        batch = batches.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        self._run_batch(connection, batch, options, report)
                    except Exception:
                        with self._lock:  # the batch's images stay pending; say so in the summary
                            report.summary.not_started += len(batch)
                        raise
        except Exception as error:  # noqa: BLE001 - reported in the summary; the other workers go on
            message = self._database_problem(error)
            if self.database.outage is None:
                logger.error("worker stopped: %s", message)
            else:  # the summary's one line says it; every worker stops on it
                logger.debug("worker stopped: %s", message)
            with self._lock:
                self._unreachable.add(f"database: {message}")

    def _stopping(self) -> bool:
        """Whether to take no more work: a signal, or a database given up on (see :mod:`~scrubctl.glance.outage`)."""
        return self.stop.is_set() or self.database.outage is not None

    def _database_problem(self, error: Exception) -> str:
        """The line that describes ``error``: the database's outage when there is one (every worker
        then reports the same), else the error itself."""
        if self.database.outage is not None:
            return self.database.outage
        return describe_db_error(error) if isinstance(error, DBAPIError) else str(error)

    def _run_batch(
        self, connection: Connection, batch: list[PlannedImage], options: RunOptions, report: Report
    ) -> None:
        held, state = self._take_and_read(connection, batch, options.dry_run)  # a dead database stops the worker
        taken = [image for image in batch if image.id in held]
        others = len(batch) - len(taken)
        works: list[_ImageWork] = []
        try:
            outcomes, not_started = self._erase_images(taken, state, options.dry_run)
            if not_started:
                with self._lock:
                    report.summary.not_started += not_started
            for outcome in outcomes:
                if outcome is None:
                    others += 1
                else:
                    works.append(outcome)
            done = self._record(connection, works, held, options.dry_run)
        except (DBAPIError, ConflictLostError) as error:
            done = self._batch_lost([work.image for work in works], error)
        finally:
            if self._claims is not None and held:
                self._claims.release(connection, held)  # only those the record did not release
        with self._lock:
            report.summary.taken_by_other_run += others
        for result in done:
            self._finish(report, result)

    def _erase_images(
        self, images: list[PlannedImage], state: CurrentState, dry_run: bool
    ) -> tuple[list[_ImageWork | None], int]:
        """Erase the claimed ``images``, in order by one thread or taken one at a time by the shared
        erase threads. Returns each started image's work (``None`` when another run has it), in
        plan order, and how many were not started because the run was stopped."""
        outcomes: list[_ImageWork | None] = [None] * len(images)
        started = [False] * len(images)
        order: Iterator[int] = iter(range(len(images)))
        taking = threading.Lock()

        def erase_some() -> None:
            while not self._stopping():
                with taking:
                    index = next(order, None)
                if index is None:
                    return
                started[index] = True
                outcomes[index] = self._erase_image(images[index], state, dry_run)

        pool = self._erase_pool
        if pool is None or len(images) < 2:
            erase_some()
        else:
            helpers = [pool.submit(erase_some) for _ in range(min(self._erasers, len(images)))]
            wait(helpers)  # every erase of the batch has ended before its claims can be released
            for helper in helpers:
                helper.result()
        return [outcome for outcome, began in zip(outcomes, started, strict=True) if began], started.count(False)

    def _take_and_read(
        self, connection: Connection, batch: list[PlannedImage], dry_run: bool
    ) -> tuple[set[str], CurrentState]:
        """Claim a batch and re-read the rows of the images taken, in one transaction (a dry run
        claims nothing and reads every image)."""
        ids = [image.id for image in batch]
        if dry_run or self._claims is None:
            return set(ids), run_transaction(connection, lambda current: current_state(current, ids), what="re-read")
        whole = {image.id for image in batch if image.whole_image}
        try:
            return self._claims.take_and_read(
                connection,
                ids,
                lambda current, taken: current_state(current, sorted(taken)),
                lambda current, candidates: still_to_do(current, candidates, whole),
            )
        except ConflictLostError:
            return set(), current_state_of_nothing()  # other runs kept winning these rows: theirs

    def _batch_lost(self, images: list[PlannedImage], error: Exception) -> list[ImageResult]:
        """Results for the images of a batch whose record did not commit (their erases are in the audit trail)."""
        if isinstance(error, ConflictLostError):
            reason = f"{error}; nothing recorded for this batch, the next run records it"
        else:
            message = self._database_problem(error)
            reason = f"database error, nothing recorded for this batch: {message}"
            with self._lock:
                self._unreachable.add(f"database: {message}")
        return [ImageResult(image.id, image.entry.name, Result.FAILED, reason, 0, ()) for image in images]

    def _finish(self, report: Report, result: ImageResult) -> None:
        with self._lock:
            report.images.append(result)
            report.summary.count(result)
        self.observer.image_finished(result)

    def _erase_image(self, image: PlannedImage, state: CurrentState, dry_run: bool) -> _ImageWork | None:
        """Erase what may be erased of one claimed image; ``None`` when another run has it."""
        status = state.image_status.get(image.id)
        if status is None or (image.whole_image and status != PENDING_DELETE):
            return None
        self.observer.image_started(image)
        work = _ImageWork(image)
        for planned in image.locations:
            location = planned.location
            shown = location.shown_url
            if state.location_status.get(location.id) != PENDING_DELETE:
                continue  # recorded by someone else since the plan was made
            if planned.blocked:
                work.blocked.append(f"location {location.id}: {planned.blocked}")
                work.locations.append(
                    LocationResult(location.id, shown, location.store_label, "blocked", planned.blocked)
                )
                continue
            if self.stop.is_set():
                work.failed.append("interrupted before this location")
                work.locations.append(
                    LocationResult(location.id, shown, location.store_label, "skipped", "interrupted")
                )
                continue
            self.observer.location_started(image, location)
            self._erase_location(work, planned.location, dry_run)
        live = state.live_locations.get(image.id, [])
        if image.whole_image and live:
            work.blocked.append(f"image still has live location(s) {', '.join(map(str, live))}; not marked deleted")
        work.finished = image.whole_image and not (work.blocked or work.failed)
        return work

    def _erase_location(self, work: _ImageWork, location: Location, dry_run: bool) -> None:
        """Erase one location. Outside a dry run the audit trail gets an ``erase`` line with result
        ``started`` before the destructive call and one with the outcome after it, so that a crash
        between the two still leaves the attempt on record."""
        shown, store = location.shown_url, location.store_label
        started = False
        try:
            if location.url is None or location.scheme is None or location.store is None:
                raise LocationBlocked(location.problem or "location cannot be resolved to a store")
            with self._lock:
                known_down = self._down_stores.get(store or "")
            if known_down is not None:
                raise BackendUnavailableError(known_down)
            deleter = self.deleters.get(location.scheme, location.store)
            if not dry_run and self._claims is not None and not self._claims.may_erase(work.image.id):
                raise LocationFailed("this run's claim on the image could not be renewed in time; not erased")
            if not dry_run:
                self._audit_location("erase", work, location, "started")
                started = True
            outcome = deleter.erase(location.url, dry_run=dry_run)
        except Exception as error:  # noqa: BLE001 - mapped below; one bad location never stops the run
            kind = self._problem(work, location, error)
            if started:
                self._audit_location("erase", work, location, kind, detail=str(error))
            return
        size = outcome.bytes_freed if outcome.bytes_freed is not None else (work.image.entry.size or 0)
        work.bytes += size
        work.locations.append(LocationResult(location.id, shown, store, outcome.outcome.value, outcome.detail, size))
        if outcome.outcome in ERASED:
            work.erased_ids.append(location.id)
        if started:
            action = "trash" if outcome.outcome is EraseOutcome.TRASHED else "erase"
            self._audit_location(action, work, location, outcome.outcome.value, detail=outcome.detail, bytes=size)

    def _problem(self, work: _ImageWork, location: Location, error: Exception) -> str:
        """Record why a location was not erased; return ``blocked`` or ``failed``."""
        shown, store = location.shown_url, location.store_label
        if isinstance(error, LocationBlocked):
            kind, reason = "blocked", str(error)
        elif isinstance(error, (LocationFailed, BackendUnavailableError)):
            kind, reason = "failed", str(error)
        else:
            logger.error("unexpected error erasing location %s", location.id, exc_info=error)
            kind, reason = "failed", f"unexpected {error.__class__.__name__}: {error}"
        if isinstance(error, BackendUnavailableError):
            with self._lock:
                self._unreachable.add(f"store {store}: {error}")
                self._down_stores.setdefault(store or "", str(error))
        (work.blocked if kind == "blocked" else work.failed).append(f"location {location.id}: {reason}")
        work.locations.append(LocationResult(location.id, shown, store, kind, reason))
        return kind

    def _audit_location(self, action: str, work: _ImageWork, location: Location, result: str, **extra: Any) -> None:
        self.audit.record(
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

    def _record(
        self, connection: Connection, works: Sequence[_ImageWork], held: set[str], dry_run: bool
    ) -> list[ImageResult]:
        """Record a batch with guarded updates (skipped in a dry run), releasing its claims in the
        same transaction, and build its results."""
        now = glance_timestamp()
        for work in works:
            if work.finished and not dry_run:
                self.audit.record("mark_deleted", {"image_id": work.image.id, "bytes": work.bytes, "result": "deleted"})
        location_ids = [location_id for work in works for location_id in work.erased_ids]
        image_ids = [work.image.id for work in works if work.finished]

        claims = self._claims

        def record(current: Connection) -> tuple[set[int], set[str]]:
            unchanged = (
                mark_locations_deleted(current, location_ids, now, dry_run=dry_run),
                mark_images_deleted(current, image_ids, now, dry_run=dry_run),
            )
            if claims is not None:
                claims.release_within(current, sorted(held))
            return unchanged

        unchanged_locations, unchanged_images = run_transaction(
            connection, record, policy=RECORD_POLICY, what="recording the batch"
        )
        if claims is not None:
            claims.forget(held)
            held.clear()
        results = []
        for work in works:
            raced = [location_id for location_id in work.erased_ids if location_id in unchanged_locations]
            if raced:
                work.failed.append(f"location row(s) {', '.join(map(str, raced))} changed during the run")
            if work.image.id in unchanged_images:
                work.failed.append("image row changed during the run; not marked deleted")
            results.append(_result(work, dry_run))
        return results


def _queued(
    images: tuple[PlannedImage, ...], options: RunOptions, largest: int
) -> tuple[queue.SimpleQueue[list[PlannedImage]], int, dict[str, int]]:
    """The batches to take, how many images they hold, and each image's place in the plan (results
    are reported in plan order). Only the queue holds the images afterwards: each batch is freed
    once it is done."""
    batches: queue.SimpleQueue[list[PlannedImage]] = queue.SimpleQueue()
    for batch in cut_into_batches(rotated(images, options), options, largest):
        batches.put(batch)
    return batches, len(images), {image.id: index for index, image in enumerate(images)}


def _result(work: _ImageWork, dry_run: bool) -> ImageResult:
    image = work.image
    if work.failed:
        outcome, reason = Result.FAILED, "; ".join(work.failed + work.blocked)
    elif work.blocked:
        outcome, reason = Result.BLOCKED, "; ".join(work.blocked)
    else:
        outcome = Result.WOULD_SCRUB if dry_run else Result.SCRUBBED
        details = [location.reason for location in work.locations if location.outcome == "trashed"]
        if not image.locations:
            details.insert(0, "nothing left to erase; finalized" if not dry_run else "nothing left to erase")
        reason = "; ".join(details)
    return ImageResult(
        image.id, image.entry.name, outcome, reason, work.bytes, tuple(work.locations), image.whole_image
    )
