"""Cutting a plan into the batches workers claim, and where a run starts in it."""

from __future__ import annotations

import random
from collections.abc import Sequence

from scrubctl.engine.model import PlannedImage, RunOptions

MAX_BATCH = 200  # images claimed, re-read and recorded together


def rotated(images: Sequence[PlannedImage], options: RunOptions) -> Sequence[PlannedImage]:
    """Start a run at a random place in its plan, so that runs on several controllers, which plan
    the same images, begin on different batches instead of all racing for the first ones (results
    are reported in plan order all the same)."""
    if options.dry_run or len(images) < 2:
        return images
    offset = random.randrange(len(images))  # noqa: S311 - spreading work, not cryptography
    return [*images[offset:], *images[:offset]]


def cut_into_batches(images: Sequence[PlannedImage], options: RunOptions) -> list[list[PlannedImage]]:
    """Cut the plan into batches: large first, shrinking towards the end, so that no worker idles
    while another still holds a full batch of slow erases (RBD: ~150 ms each)."""
    if options.batch_size:
        size = options.batch_size
        return [list(images[start : start + size]) for start in range(0, len(images), size)]
    workers = max(1, options.concurrency)
    batches: list[list[PlannedImage]] = []
    start = 0
    while start < len(images):
        size = max(1, min(MAX_BATCH, (len(images) - start) // (workers * 2)))
        batches.append(list(images[start : start + size]))
        start += size
    return batches
