"""Applying a plan: claim, re-check, erase, record; dry-run or not, on one path.

Images are taken in batches by a few lanes (:mod:`~scrubctl.engine.lanes`), each with its own
database connection. A batch is claimed (:mod:`~scrubctl.coordination.claims`; committed before
anything is erased), its rows are re-read after the claim, and only locations still
``pending_delete`` of images still in the queue are erased, by ``concurrency`` erase threads shared
by all lanes that take the batch's images one at a time (:mod:`~scrubctl.engine.erasing`), while the
batch's lane records the images as their erases end (:mod:`~scrubctl.engine.recording`: whatever
ended within half a second in one transaction, which also releases those images' claims). Results
are recorded with guarded updates after the audit trail has the record of every erase; a
transaction another database node won is run again (:mod:`~scrubctl.coordination.conflicts`). One
failing location or image never stops the run. A dry run takes no claims and writes nothing; its
``dry_run`` reaches ``Deleter.erase(url, dry_run=...)`` on the same path.

Each run keeps what it finds in a :class:`~scrubctl.engine.state.RunState` of its own: a second run
of the same runner starts clean.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from scrubctl.backends import DeleterPool
from scrubctl.coordination.claims import DEFAULT_TIMEOUT_SECONDS, ClaimSession
from scrubctl.engine.batches import LOCAL_BATCH, MAX_BATCH, lanes_for
from scrubctl.engine.lanes import Batches, queued, run_lane
from scrubctl.engine.model import (
    ImageResult,
    NullObserver,
    Observer,
    Plan,
    PlannedImage,
    Report,
    Result,
    RunOptions,
    Summary,
)
from scrubctl.engine.state import RunState, RunTools
from scrubctl.glance.database import GlanceDatabase
from scrubctl.settings.utc import iso_utc, utc_now
from scrubctl.unattended.audit import AuditTrail, NullAudit


class ScrubRunner:
    """Applies plans against one database with one set of deleters; each :meth:`run` starts clean."""

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
        self.deleters = deleters
        self.observer = observer or NullObserver()
        self.audit = audit or NullAudit()
        self.stop = stop or threading.Event()
        self.claim_timeout = claim_timeout

    def run(self, plan: Plan, options: RunOptions) -> Report:
        """Apply ``plan``, which is handed over (:meth:`Plan.hand_over`: it is empty afterwards);
        return the report (the database is changed unless ``options.dry_run``)."""
        started = time.monotonic()
        tools = RunTools(self.database, self.deleters, self.observer, self.audit, self.stop)
        report = Report(Summary(dry_run=options.dry_run, started_at=iso_utc(utc_now()) or ""))
        run = RunState(tools, report, dry_run=options.dry_run)
        for image_id, reason in plan.missing:
            run.finish(ImageResult(image_id, None, Result.BLOCKED, reason, 0, ()))
        report.summary.not_found = len(plan.missing)
        images = plan.hand_over()
        batches, count, order = queued(images, options, self._largest_batch(images))
        del images  # the queue holds the images now (see queued)
        report.summary.selected = count + len(plan.missing)
        if not options.dry_run and count:
            run.claims = ClaimSession(self.database.engine, purpose="scrub", timeout_seconds=self.claim_timeout)
            run.claims.start()
        try:
            self._run_lanes(run, batches, options, count)
        finally:
            if run.claims is not None:
                run.claims.close()
        report.images.sort(key=lambda result: order.get(result.id, -1))
        while not batches.empty():
            report.summary.not_started += len(batches.get())
        report.summary.interrupted = self.stop.is_set()
        report.summary.unreachable = sorted(run.unreachable)
        report.summary.duration_seconds = round(time.monotonic() - started, 3)
        return report

    def _run_lanes(self, run: RunState, batches: Batches, options: RunOptions, count: int) -> None:
        """Start the run's erase threads and its lanes, and wait until every lane has stopped."""
        lanes = max(1, min(lanes_for(options), batches.qsize()))
        erasers = max(1, min(options.concurrency, count or 1))
        with (
            ThreadPoolExecutor(max_workers=erasers, thread_name_prefix="erase") as erase_pool,
            ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="scrub") as lane_pool,
        ):
            run.erase_pool, run.erasers = erase_pool, erasers
            try:
                futures = [lane_pool.submit(run_lane, run, batches) for _ in range(lanes)]
                for future in futures:
                    future.result()
            finally:
                run.erase_pool = None

    def _largest_batch(self, images: tuple[PlannedImage, ...]) -> int:
        """:data:`LOCAL_BATCH` when every location of ``images`` is in a store whose erases are
        local calls (its deleter's ``erases_locally``), else :data:`MAX_BATCH`."""
        schemes = {item.location.scheme for image in images for item in image.locations}
        local = all(scheme is None or self.deleters.erases_locally(scheme) for scheme in schemes)
        return LOCAL_BATCH if local else MAX_BATCH
