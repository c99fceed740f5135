"""Cutting a plan into the batches workers claim, and where a run starts in it."""

from __future__ import annotations

import random
from collections.abc import Sequence

from scrubctl.engine.model import PlannedImage, RunOptions

MAX_BATCH = 200  # images claimed, re-read and recorded together
# ... when every location of the plan is in a store whose erases are local calls (a file's unlink):
# the claims of such a batch are held for milliseconds, and larger batches save round trips
# (0.1 s at 10,000 images). Erases that go over the network take seconds a batch: smaller batches
# then let other controllers' runs take their share of the images.
LOCAL_BATCH = 500
LANES = 2  # batches in flight at once: one erasing while another is recorded and the next claimed


def lanes_for(options: RunOptions) -> int:
    """How many batches a run keeps in flight (each lane has its own database connection)."""
    return max(1, min(LANES, options.concurrency))


def rotated(images: Sequence[PlannedImage], options: RunOptions) -> Sequence[PlannedImage]:
    """Start a run at a random place in its plan, so that runs on several controllers, which plan
    the same images, begin on different batches instead of all racing for the first ones (results
    are reported in plan order all the same)."""
    if options.dry_run or len(images) < 2:
        return images
    offset = random.randrange(len(images))  # noqa: S311 - spreading work, not cryptography
    return [*images[offset:], *images[:offset]]


def cut_into_batches(
    images: Sequence[PlannedImage], options: RunOptions, largest: int = MAX_BATCH
) -> list[list[PlannedImage]]:
    """Cut the plan into batches of at most ``largest`` images; what is left for the last round is
    shared evenly between the lanes. Batches are few (each costs a claim and a record transaction)
    and never shrink towards the end: the erase threads take images one at a time from whichever
    batch is claimed, so a large batch leaves no thread idle, while a string of small ones would make
    each wait for the record and the claim of the one before."""
    if options.batch_size:
        size = options.batch_size
        return [list(images[start : start + size]) for start in range(0, len(images), size)]
    lanes = lanes_for(options)
    batches: list[list[PlannedImage]] = []
    start = 0
    while len(images) - start > lanes * largest:
        batches.append(list(images[start : start + largest]))
        start += largest
    last_round = -(-(len(images) - start) // lanes)  # the rest, in one batch per lane
    while start < len(images):
        batches.append(list(images[start : start + last_round]))
        start += last_round
    return batches
