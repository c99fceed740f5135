"""The lanes of a run: each takes batches from the queue, claims and re-reads one, has the erase
threads erase its images and records them as their erases end.

Each lane has its own database connection. A batch is claimed (:mod:`~scrubctl.coordination.claims`;
committed before anything is erased) and its rows are re-read inside the claim; the claims of the
images not recorded (another run's, or not started) are released once every erase of the batch has
ended, and the claims of the others are released in the transactions that record them. A lane that
meets a database error stops, with one line however many lanes stop for the same reason (a database
that stops answering is given up on once for the run, :mod:`~scrubctl.glance.outage`).
"""

from __future__ import annotations

import logging
import queue
from concurrent.futures import wait

from sqlalchemy import Connection

from scrubctl.coordination.conflicts import ConflictLostError, run_transaction
from scrubctl.engine.batches import cut_into_batches, rotated
from scrubctl.engine.erasing import Ended, start_erasing
from scrubctl.engine.model import PlannedImage, RunOptions
from scrubctl.engine.recording import record_as_erases_end
from scrubctl.engine.records import CurrentState, current_state, current_state_of_nothing, still_to_do
from scrubctl.engine.state import RunState

logger = logging.getLogger(__name__)

Batches = queue.SimpleQueue[list[PlannedImage]]


def queued(images: tuple[PlannedImage, ...], options: RunOptions, largest: int) -> tuple[Batches, int, dict[str, int]]:
    """The batches to take, how many images they hold, and each image's place in the plan (results
    are reported in plan order). Only the queue holds the images afterwards: each batch is freed
    once it is done."""
    batches: Batches = queue.SimpleQueue()
    for batch in cut_into_batches(rotated(images, options), options, largest):
        batches.put(batch)
    return batches, len(images), {image.id: index for index, image in enumerate(images)}


def run_lane(run: RunState, batches: Batches) -> None:
    """Take batches until the queue is empty or the run stops; a database error stops this lane
    (the summary says it; the other lanes go on until they meet it too)."""
    database = run.tools.database
    try:
        with database.connect() as connection:
            if not run.dry_run:
                connection.execution_options(sqlite_write=True)  # SQLite: writes BEGIN IMMEDIATE
            while not run.stopping():
                try:
                    batch = batches.get_nowait()
                except queue.Empty:
                    return
                try:
                    run_batch(run, connection, batch)
                except Exception:
                    run.count(not_started=len(batch))  # the batch's images stay pending; say so in the summary
                    raise
    except Exception as error:  # noqa: BLE001 - reported in the summary; the other lanes go on
        message = run.database_problem(error)
        first = run.database_unreachable(message)  # said once, however many lanes stop for the same reason
        if first and database.outage is None:
            logger.error("worker stopped: %s", message)
        else:  # the summary's one line says it; every lane stops on it
            logger.debug("worker stopped: %s", message)


def run_batch(run: RunState, connection: Connection, batch: list[PlannedImage]) -> None:
    """Claim and re-read one batch, erase its images and record them as their erases end."""
    held, state = take_and_read(run, connection, batch)  # a dead database stops the lane
    taken = [image for image in batch if image.id in held]
    ended: Ended = queue.SimpleQueue()
    erasers = start_erasing(run, taken, state, ended)
    try:
        record_as_erases_end(run, connection, ended, len(erasers), held)
    finally:
        wait(erasers)  # every erase of the batch has ended before its claims can be released
        if run.claims is not None and held:
            run.claims.release(connection, held)  # only those not recorded (another run's, not started)
    not_started = sum(eraser.result() for eraser in erasers)
    run.count(taken_by_other_run=len(batch) - len(taken), not_started=not_started)


def take_and_read(run: RunState, connection: Connection, batch: list[PlannedImage]) -> tuple[set[str], CurrentState]:
    """Claim a batch and re-read the rows of the images taken, in one transaction (a dry run
    claims nothing and reads every image)."""
    ids = [image.id for image in batch]
    if run.dry_run:
        return set(ids), run_transaction(connection, lambda current: current_state(current, ids), what="re-read")
    claims = run.claims
    assert claims is not None, "a run that is not a dry run claims every batch it takes"
    whole = {image.id for image in batch if image.whole_image}
    try:
        return claims.take_and_read(
            connection,
            ids,
            lambda current, taken: current_state(current, sorted(taken)),
            lambda current, candidates: still_to_do(current, candidates, whole),
        )
    except ConflictLostError:
        return set(), current_state_of_nothing()  # other runs kept winning these rows: theirs
