"""Applying a plan: claim, re-check, erase, record; dry-run or not, on one path.

Images are taken in batches by a few lanes, each with its own database connection. A batch is
claimed (:mod:`~scrubctl.coordination.claims`; committed before anything is erased), its rows are
re-read after the claim, and only locations still ``pending_delete`` of images still in the queue
are erased, by ``concurrency`` erase threads shared by all lanes that take the batch's images one at
a time, while the batch's lane records the images as their erases end (whatever ended within half a
second in one transaction, which also releases those images' claims). Results are recorded with
guarded updates after the audit trail has the record of every erase; a transaction another database
node won is run again
(:mod:`~scrubctl.coordination.conflicts`). One failing location or image never stops the run. A dry
run takes no claims and writes nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from scrubctl.backends import DeleterPool
from scrubctl.backends.base import (
    EraseOutcome,
    EraseProgress,
    LocationBlocked,
    LocationFailed,
    ProgressCallback,
    erase_reporting,
)
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
from scrubctl.engine.work import ImageWork, recorded_result
from scrubctl.errors import BackendUnavailableError
from scrubctl.glance.database import GlanceDatabase, describe_db_error
from scrubctl.glance.locations import Location
from scrubctl.glance.schema import PENDING_DELETE
from scrubctl.settings.utc import glance_timestamp, iso_utc, utc_now
from scrubctl.unattended.audit import AuditLogError, AuditTrail, NullAudit

logger = logging.getLogger(__name__)

RECORD_POLICY = RetryPolicy(attempts=30, first_wait=0.01, longest_wait=1.0)
ERASED = frozenset({EraseOutcome.ERASED, EraseOutcome.ALREADY_GONE, EraseOutcome.TRASHED})
# How long an erased image may wait for others to be recorded in the same transaction: fast erases
# (files) share commits, a slow one (a large RBD image) is recorded, and reported, on its own.
RECORD_WINDOW_SECONDS = 0.5


class _ErasersDone:
    """Put last by each erase thread of a batch: it takes no more of the batch's images."""

    __slots__ = ()


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
        self._erase_pool: Executor | None = None  # erase threads shared by the lanes, while a run lasts
        self._erasers = 1
        self.deleters = deleters
        self.observer = observer or NullObserver()
        self.audit = audit or NullAudit()
        self.stop = stop or threading.Event()
        self._lock = threading.Lock()
        self._unreachable: set[str] = set()
        # Stores found unreachable in this run: their other locations fail at once, not after a timeout each.
        self._down_stores: dict[str, str] = {}
        self._audit_broken = False  # an audit line could not be written (said once)

    def run(self, plan: Plan, options: RunOptions) -> Report:
        """Apply ``plan``, which is handed over (:meth:`Plan.hand_over`: it is empty afterwards);
        return the report (the database is changed unless ``options.dry_run``)."""
        started = time.monotonic()
        report = Report(Summary(dry_run=options.dry_run, started_at=iso_utc(utc_now()) or ""))
        for image_id, reason in plan.missing:
            self._finish(report, ImageResult(image_id, None, Result.BLOCKED, reason, 0, ()))
        report.summary.not_found = len(plan.missing)
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
                self._erase_pool, self._erasers = erase_pool, erasers
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
            with self._lock:  # said once, however many workers stop for the same reason
                first = f"database: {message}" not in self._unreachable
                self._unreachable.add(f"database: {message}")
            if first and self.database.outage is None:
                logger.error("worker stopped: %s", message)
            else:  # the summary's one line says it; every worker stops on it
                logger.debug("worker stopped: %s", message)

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
        ended: queue.SimpleQueue[ImageWork | _ErasersDone | None] = queue.SimpleQueue()
        erasers = self._start_erasing(taken, state, options.dry_run, ended)
        try:
            self._record_as_erases_end(connection, ended, len(erasers), held, options.dry_run, report)
        finally:
            wait(erasers)  # every erase of the batch has ended before its claims can be released
            if self._claims is not None and held:
                self._claims.release(connection, held)  # only those not recorded (another run's, not started)
        not_started = sum(eraser.result() for eraser in erasers)
        with self._lock:
            report.summary.taken_by_other_run += len(batch) - len(taken)
            report.summary.not_started += not_started

    def _start_erasing(
        self,
        images: list[PlannedImage],
        state: CurrentState,
        dry_run: bool,
        ended: queue.SimpleQueue[ImageWork | _ErasersDone | None],
    ) -> list[Future[int]]:
        """Hand the claimed ``images`` to the erase threads, which take them one at a time and put
        each image's work on ``ended`` as soon as its erase ends (``None`` when another run has it);
        each thread puts an :class:`_ErasersDone` last, and its future returns how many images it
        left unstarted because the run was stopped."""
        order: Iterator[int] = iter(range(len(images)))
        taking = threading.Lock()

        def erase_some() -> int:
            try:
                while not self._stopping():
                    with taking:
                        index = next(order, None)
                    if index is None:
                        return 0
                    ended.put(self._erase_image(images[index], state, dry_run))
                with taking:
                    return sum(1 for _ in order)
            finally:
                ended.put(_ErasersDone())

        pool = self._erase_pool
        assert pool is not None, "the run's erase threads are started before its lanes"
        return [pool.submit(erase_some) for _ in range(max(1, min(self._erasers, len(images))))]

    def _record_as_erases_end(
        self,
        connection: Connection,
        ended: queue.SimpleQueue[ImageWork | _ErasersDone | None],
        erasers: int,
        held: set[str],
        dry_run: bool,
        report: Report,
    ) -> None:
        """Record the images of a batch as their erases end: whatever ended within
        :data:`RECORD_WINDOW_SECONDS` of the first unrecorded one, in one transaction (fast erases
        share commits, a slow one is recorded on its own), each result reported once committed. Once
        a record fails on the database, the rest of the batch is reported lost without another try."""
        waiting: list[ImageWork] = []
        deadline: float | None = None
        lost: Exception | None = None
        while erasers:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = ended.get(timeout=timeout)
                if isinstance(item, _ErasersDone):
                    erasers -= 1
                elif isinstance(item, ImageWork):
                    waiting.append(item)
                    deadline = deadline or time.monotonic() + RECORD_WINDOW_SECONDS
                else:  # another run has this image
                    with self._lock:
                        report.summary.taken_by_other_run += 1
            except queue.Empty:  # the window of the images waiting has passed
                pass
            if waiting and (not erasers or (deadline is not None and time.monotonic() >= deadline)):
                done: Sequence[ImageResult | None] = []
                if lost is None:
                    try:
                        done = self._record(connection, waiting, held, dry_run)
                    except (DBAPIError, ConflictLostError) as error:
                        lost = error
                if lost is not None:
                    done = self._batch_lost([work.image for work in waiting], lost)
                with self._lock:
                    report.summary.taken_by_other_run += sum(1 for result in done if result is None)
                for result in done:
                    if result is not None:
                        self._finish(report, result)
                waiting, deadline = [], None

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
            reason = f"{error}; nothing recorded, the next run records it"
        else:
            message = self._database_problem(error)
            reason = f"database error, nothing recorded: {message}"
            with self._lock:
                self._unreachable.add(f"database: {message}")
        return [
            ImageResult(image.id, image.entry.name, Result.FAILED, reason, 0, (), image.whole_image, image.entry.size)
            for image in images
        ]

    def _finish(self, report: Report, result: ImageResult) -> None:
        with self._lock:
            report.images.append(result)
            report.summary.count(result)
        self.observer.image_finished(result)

    def _erase_image(self, image: PlannedImage, state: CurrentState, dry_run: bool) -> ImageWork | None:
        """Erase what may be erased of one claimed image; ``None`` when another run has it."""
        status = state.image_status.get(image.id)
        if status is None or (image.whole_image and status != PENDING_DELETE):
            return None
        still_pending = [
            planned for planned in image.locations if state.location_status.get(planned.location.id) == PENDING_DELETE
        ]
        if not image.whole_image and not still_pending:
            return None  # the pending locations of a live image, all recorded by another run since the plan
        self.observer.image_started(image)
        work = ImageWork(image)
        if image.blocked:  # the image as a whole: none of its locations is erased
            work.blocked.append(image.blocked)
            still_pending = []
        for planned in still_pending:  # the others were recorded by someone else since the plan was made
            location = planned.location
            shown = location.shown_url
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

    def _erase_location(self, work: ImageWork, location: Location, dry_run: bool) -> None:
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
                unwritten = self._audit_location("erase", work, location, "started")
                if unwritten:
                    raise LocationFailed(f"not erased: {unwritten}")
                started = True
            outcome = erase_reporting(
                deleter, location.url, dry_run=dry_run, progress=self._progress_of(work.image, location)
            )
        except Exception as error:  # noqa: BLE001 - mapped below; one bad location never stops the run
            kind = self._problem(work, location, error)
            if started:
                self._audit_location("erase", work, location, kind, detail=str(error))
            return
        size = outcome.bytes_freed if outcome.bytes_freed is not None else (work.image.entry.size or 0)
        work.bytes += size
        work.locations.append(LocationResult(location.id, shown, store, outcome.outcome.value, outcome.detail, size))
        unwritten = None
        if started:
            action = "trash" if outcome.outcome is EraseOutcome.TRASHED else "erase"
            unwritten = self._audit_location(
                action, work, location, outcome.outcome.value, detail=outcome.detail, bytes=size
            )
        if unwritten:  # erased, but only its start is on record: the next run finds it already gone
            work.failed.append(f"location {location.id}: {outcome.outcome.value}, but not recorded: {unwritten}")
        elif outcome.outcome in ERASED:
            work.erased_ids.append(location.id)

    def _progress_of(self, image: PlannedImage, location: Location) -> ProgressCallback:
        """The callback that passes a deleter's progress on ``location`` to the observer."""
        observer = self.observer

        def progress(step: EraseProgress) -> None:
            observer.location_progress(image, location, step)

        return progress

    def _problem(self, work: ImageWork, location: Location, error: Exception) -> str:
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

    def _audit_location(
        self, action: str, work: ImageWork, location: Location, result: str, **extra: Any
    ) -> str | None:
        """Write one location's audit line; return why it could not be written, or ``None``."""
        return self._audit(
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

    def _audit(self, action: str, fields: dict[str, Any]) -> str | None:
        """Write one audit line; when it cannot be written, say so once (one line, exit 3) and return why."""
        try:
            self.audit.record(action, fields)
        except AuditLogError as error:
            with self._lock:
                first, self._audit_broken = not self._audit_broken, True
                self._unreachable.add(str(error))
            if first:
                logger.error("%s; nothing is erased or recorded without its audit line", error)
            return str(error)
        return None

    def _record(
        self, connection: Connection, works: Sequence[ImageWork], held: set[str], dry_run: bool
    ) -> list[ImageResult | None]:
        """Record the erased images ``works`` with guarded updates (skipped in a dry run), releasing
        their claims in the same transaction, and build their results (``None`` for an image another
        run recorded first)."""
        now = glance_timestamp()
        for work in works:
            if work.finished and not dry_run:
                unwritten = self._audit(
                    "mark_deleted", {"image_id": work.image.id, "bytes": work.bytes, "result": "deleted"}
                )
                if unwritten:
                    work.finished = False
                    work.failed.append(f"not marked deleted: {unwritten}")
        location_ids = [location_id for work in works for location_id in work.erased_ids]
        image_ids = [work.image.id for work in works if work.finished]
        recorded = sorted(work.image.id for work in works)

        claims = self._claims

        def record(current: Connection) -> tuple[dict[int, str | None], dict[str, str | None]]:
            unchanged = (
                mark_locations_deleted(current, location_ids, now, dry_run=dry_run),
                mark_images_deleted(current, image_ids, now, dry_run=dry_run),
            )
            if claims is not None:
                claims.release_within(current, recorded)
            return unchanged

        unchanged_locations, unchanged_images = run_transaction(
            connection, record, policy=RECORD_POLICY, what="recording erased images"
        )
        if claims is not None:
            claims.forget(recorded)
        held.difference_update(recorded)
        return [recorded_result(work, unchanged_locations, unchanged_images, dry_run) for work in works]


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
