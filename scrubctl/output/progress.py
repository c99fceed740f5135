"""Progress of a scrub run: a live rich display on a terminal, plain log lines everywhere else.

Both follow images, not batches: an image leaves the display, and gets its log line, when its result
is recorded (within half a second of its erase ending, see :mod:`scrubctl.engine.runner`). An image
is shown at one size from start to finish, the size Glance recorded; when the stores held another
amount, both are named.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from scrubctl.backends.base import EraseProgress
from scrubctl.engine.model import ImageResult, PlannedImage, Result
from scrubctl.glance.locations import Location
from scrubctl.output.views import human_size
from scrubctl.settings.printable import printable
from scrubctl.unattended.logs import DEFAULT_PROGRESS_INTERVAL

logger = logging.getLogger(__name__)
# Into the journal as priorities: a failed image is an error, a blocked one a warning.
LEVELS = {Result.BLOCKED: logging.WARNING, Result.FAILED: logging.ERROR}

IN_FLIGHT_LINES = 12  # images in flight shown under the bar


def planned_bytes(image: PlannedImage) -> int:
    """The bytes the plan counts for ``image`` (as :attr:`Plan.bytes_to_erase` does): its recorded
    size once for every location not known to be blocked, nothing for an image blocked as a whole."""
    if image.blocked:
        return 0
    return (image.entry.size or 0) * sum(1 for location in image.locations if not location.blocked)


def size_label(result: ImageResult) -> str:
    """An image's size as the results name it: the size Glance recorded, and what the stores freed
    when that differs (``1000 bytes (recorded size; the stores freed 2000 bytes)``)."""
    if result.size is None or result.bytes == result.size:
        return f"{result.bytes} bytes"
    would = result.result is Result.WOULD_SCRUB
    if not result.bytes:
        freed = "nothing would be freed" if would else "nothing freed"
    else:
        freed = f"the stores {'would free' if would else 'freed'} {result.bytes} bytes"
    return f"{result.size} bytes (recorded size; {freed})"


def step_text(step: EraseProgress) -> str:
    """``37% of 131,072 objects, 11.2 GiB``."""
    text = f"{int(step.fraction * 100)}% of {step.total:,} {step.unit}"
    if step.bytes_done is not None:
        text += f", {human_size(step.bytes_done)}"
    return text


class _RateColumn(ProgressColumn):
    """Bytes per second, in the binary units of every other size shown (``1.2 GiB/s``)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{human_size(int(speed))}/s")


@dataclass
class _InFlight:
    """An image being erased, as the live display shows it."""

    label: str
    share: int  # bytes the overall bar counts for it
    locations: int  # locations it erases
    locations_done: int = 0
    counted: int = 0  # of ``share``, already added to the bar
    doing: str = ""


class LiveScrubProgress:
    """A rich live display: a bar of images and bytes with rate and time left, and one line per
    image in flight with what its deleter reports (terminal only)."""

    def __init__(self, console: Console, total: int, dry_run: bool, total_bytes: int = 0) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._in_flight: dict[str, _InFlight] = {}
        self._images_done, self._images_total = 0, total
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[images]} images"),
            DownloadColumn(binary_units=True),
            _RateColumn(),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        label = "checking (dry run)" if dry_run else "scrubbing"
        self._task = self._progress.add_task(label, total=max(total_bytes, 1), images=f"0/{total}")
        self._live = Live(self._render(), console=console, refresh_per_second=8, transient=True)

    def _render(self) -> Group:
        lines = [
            Text(f"  {item.label}{'  ' + item.doing if item.doing else ''}", overflow="ellipsis", no_wrap=True)
            for item in list(self._in_flight.values())[:IN_FLIGHT_LINES]
        ]
        hidden = len(self._in_flight) - IN_FLIGHT_LINES
        if hidden > 0:
            lines.append(Text(f"  and {hidden} more in flight"))
        return Group(self._progress, *lines)

    def __enter__(self) -> LiveScrubProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.__exit__(None, None, None)

    def _count(self, item: _InFlight, counted: int) -> None:
        """Bring the bytes the bar counts for ``item`` up to ``counted`` (never down)."""
        counted = min(item.share, counted)
        if counted > item.counted:
            self._progress.advance(self._task, counted - item.counted)
            item.counted = counted

    def image_started(self, image: PlannedImage) -> None:
        label = printable(f"{image.id} {image.entry.name or ''} {human_size(image.entry.size)}")
        with self._lock:
            self._in_flight[image.id] = _InFlight(label, planned_bytes(image), max(1, len(image.locations)))
            self._live.update(self._render())

    def location_started(self, image: PlannedImage, location: Location) -> None:
        with self._lock:
            item = self._in_flight.get(image.id)
            if item is None:
                return
            if item.doing:  # the location before this one has ended
                item.locations_done += 1
                self._count(item, item.share * item.locations_done // item.locations)
            item.doing = printable(f"-> {location.store_label or '?'}")
            self._live.update(self._render())

    def location_progress(self, image: PlannedImage, location: Location, progress: EraseProgress) -> None:
        with self._lock:
            item = self._in_flight.get(image.id)
            if item is None:
                return
            item.doing = printable(f"-> {location.store_label or '?'}: {step_text(progress)}")
            share_of_location = item.share // item.locations
            self._count(item, share_of_location * item.locations_done + int(share_of_location * progress.fraction))
            self._live.update(self._render())

    def image_finished(self, result: ImageResult) -> None:
        with self._lock:
            item = self._in_flight.pop(result.id, None)
            if item is not None:
                self._count(item, item.share)
            self._images_done += 1
            self._progress.update(self._task, images=f"{self._images_done}/{self._images_total}")
            self._live.update(self._render())


class LoggedScrubProgress:
    """One plain log line per image when its result is recorded, and for an erase that runs longer
    than ``interval`` seconds a line every ``interval`` with what its deleter reports (off a
    terminal: pipes, files, the journal)."""

    def __init__(self, dry_run: bool, interval: float = DEFAULT_PROGRESS_INTERVAL) -> None:
        self._suffix = " (dry run; not making any changes)" if dry_run else ""
        self._interval = interval
        self._lock = threading.Lock()
        self._next_line: dict[str, float] = {}  # image id -> when its next progress line is due

    def __enter__(self) -> LoggedScrubProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def image_started(self, image: PlannedImage) -> None:
        with self._lock:
            self._next_line[image.id] = time.monotonic() + self._interval
        logger.debug("image %s: started%s", _labelled(image.id, image.entry.name), self._suffix)

    def location_started(self, image: PlannedImage, location: Location) -> None:
        logger.debug("image %s: erasing %s%s", image.id, location.shown_url, self._suffix)

    def location_progress(self, image: PlannedImage, location: Location, progress: EraseProgress) -> None:
        now = time.monotonic()
        with self._lock:
            due = self._next_line.get(image.id)
            if due is None or now < due:
                return
            self._next_line[image.id] = now + self._interval
        logger.info("image %s: %s (%s)%s", image.id, step_text(progress), location.store_label or "?", self._suffix)

    def image_finished(self, result: ImageResult) -> None:
        with self._lock:
            self._next_line.pop(result.id, None)
        level = LEVELS.get(result.result, logging.INFO)
        reason = f": {result.reason}" if result.reason else ""
        logger.log(
            level,
            "image %s %s, %s%s%s",
            _labelled(result.id, result.name),
            result.result.value,
            size_label(result),
            reason,
            self._suffix,
        )


def _labelled(image_id: str, name: str | None) -> str:
    """``ID (name)``, or the id alone for an image without a name (or no image at all)."""
    return f"{image_id} ({name})" if name else image_id
