"""Recording the images of a batch as their erases end.

A batch's lane waits for the work its erase threads hand over (:mod:`~scrubctl.engine.erasing`)
and records whatever ended within :data:`RECORD_WINDOW_SECONDS` of the first unrecorded image in one
transaction: the audit trail gets each image's ``mark_deleted`` line first, then guarded
``UPDATE ... WHERE status = 'pending_delete'`` statements (:mod:`~scrubctl.engine.records`) write the
rows, their row counts checked, and release those images' claims. A transaction another database
node won is run again (:mod:`~scrubctl.coordination.conflicts`); each result is reported once
committed.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from scrubctl.coordination.conflicts import ConflictLostError, RetryPolicy, run_transaction
from scrubctl.engine.erasing import Ended, ErasersDone
from scrubctl.engine.model import ImageResult, PlannedImage, Result
from scrubctl.engine.records import mark_images_deleted, mark_locations_deleted
from scrubctl.engine.state import RunState
from scrubctl.engine.work import ImageWork, recorded_result
from scrubctl.settings.utc import glance_timestamp

RECORD_POLICY = RetryPolicy(attempts=30, first_wait=0.01, longest_wait=1.0)
# How long an erased image may wait for others to be recorded in the same transaction: fast erases
# (files) share commits, a slow one (a large RBD image) is recorded, and reported, on its own.
RECORD_WINDOW_SECONDS = 0.5


class _Recorder:
    """The images of one batch waiting to be recorded, and whether the database has been lost."""

    def __init__(self, run: RunState, connection: Connection, held: set[str]) -> None:
        self.run = run
        self.connection = connection
        self.held = held
        self.waiting: list[ImageWork] = []
        self.deadline: float | None = None
        self.lost: Exception | None = None

    def wait_for(self, ended: Ended) -> bool:
        """Take what the erase threads handed over next, waiting no longer than the window of the
        images waiting; return whether it was an erase thread saying it is done."""
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        try:
            item = ended.get(timeout=timeout)
        except queue.Empty:  # the window of the images waiting has passed
            return False
        if isinstance(item, ErasersDone):
            return True
        if isinstance(item, ImageWork):
            self.waiting.append(item)
            self.deadline = self.deadline or time.monotonic() + RECORD_WINDOW_SECONDS
        else:  # another run has this image
            self.run.count(taken_by_other_run=1)
        return False

    def due(self, erasers: int) -> bool:
        """Whether the images waiting are to be recorded now: every eraser is done, or their window has passed."""
        passed = self.deadline is not None and time.monotonic() >= self.deadline
        return bool(self.waiting) and (not erasers or passed)

    def record_waiting(self) -> None:
        """Record the images waiting in one transaction and report them; once a record failed on the
        database, report them lost without another try."""
        done: Sequence[ImageResult | None] = []
        if self.lost is None:
            try:
                done = record(self.run, self.connection, self.waiting, self.held)
            except (DBAPIError, ConflictLostError) as error:
                self.lost = error
        if self.lost is not None:
            done = batch_lost(self.run, [work.image for work in self.waiting], self.lost)
        self.run.count(taken_by_other_run=sum(1 for result in done if result is None))
        for result in done:
            if result is not None:
                self.run.finish(result)
        self.waiting, self.deadline = [], None


def record_as_erases_end(run: RunState, connection: Connection, ended: Ended, erasers: int, held: set[str]) -> None:
    """Record the images of a batch as their erases end: whatever ended within
    :data:`RECORD_WINDOW_SECONDS` of the first unrecorded one, in one transaction (fast erases
    share commits, a slow one is recorded on its own), each result reported once committed. Once
    a record fails on the database, the rest of the batch is reported lost without another try.
    ``erasers`` is how many erase threads took the batch; ``held`` the claims this run still holds
    on its images (those recorded are taken out)."""
    recorder = _Recorder(run, connection, held)
    while erasers:
        if recorder.wait_for(ended):
            erasers -= 1
        if recorder.due(erasers):
            recorder.record_waiting()


def record(
    run: RunState, connection: Connection, works: Sequence[ImageWork], held: set[str]
) -> list[ImageResult | None]:
    """Record the erased images ``works`` with guarded updates (skipped in a dry run), releasing
    their claims in the same transaction, and build their results (``None`` for an image another
    run recorded first)."""
    dry_run = run.dry_run
    now = glance_timestamp()
    for work in works:
        if work.finished and not dry_run:
            unwritten = run.audit("mark_deleted", {"image_id": work.image.id, "bytes": work.bytes, "result": "deleted"})
            if unwritten:
                work.finished = False
                work.failed.append(f"not marked deleted: {unwritten}")
    location_ids = [location_id for work in works for location_id in work.erased_ids]
    image_ids = [work.image.id for work in works if work.finished]
    recorded = sorted(work.image.id for work in works)
    claims = run.claims

    def write(current: Connection) -> tuple[dict[int, str | None], dict[str, str | None]]:
        unchanged = (
            mark_locations_deleted(current, location_ids, now, dry_run=dry_run),
            mark_images_deleted(current, image_ids, now, dry_run=dry_run),
        )
        if claims is not None:
            claims.release_within(current, recorded)
        return unchanged

    unchanged_locations, unchanged_images = run_transaction(
        connection, write, policy=RECORD_POLICY, what="recording erased images"
    )
    if claims is not None:
        claims.forget(recorded)
    held.difference_update(recorded)
    return [recorded_result(work, unchanged_locations, unchanged_images, dry_run) for work in works]


def batch_lost(run: RunState, images: list[PlannedImage], error: Exception) -> list[ImageResult]:
    """Results for the images of a batch whose record did not commit (their erases are in the audit trail)."""
    if isinstance(error, ConflictLostError):
        reason = f"{error}; nothing recorded, the next run records it"
    else:
        message = run.database_problem(error)
        reason = f"database error, nothing recorded: {message}"
        run.database_unreachable(message)
    return [
        ImageResult(image.id, image.entry.name, Result.FAILED, reason, 0, (), image.whole_image, image.entry.size)
        for image in images
    ]
