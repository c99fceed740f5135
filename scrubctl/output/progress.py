"""Progress of a scrub run: a live rich display on a terminal, plain log lines everywhere else."""

from __future__ import annotations

import logging
import threading

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from scrubctl.engine.model import ImageResult, PlannedImage, Result
from scrubctl.glance.locations import Location
from scrubctl.output.views import human_size
from scrubctl.settings.printable import printable

logger = logging.getLogger(__name__)


class LiveScrubProgress:
    """A rich live display: a progress bar and one line per image in flight (terminal only)."""

    def __init__(self, console: Console, total: int, dry_run: bool) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._in_flight: dict[str, str] = {}
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        label = "checking (dry run)" if dry_run else "scrubbing"
        self._task = self._progress.add_task(label, total=total)
        self._live = Live(self._render(), console=console, refresh_per_second=8, transient=True)

    def _render(self) -> Group:
        lines = [Text(f"  {line}", overflow="ellipsis", no_wrap=True) for line in list(self._in_flight.values())[:12]]
        return Group(self._progress, *lines)

    def __enter__(self) -> LiveScrubProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.__exit__(None, None, None)

    def image_started(self, image: PlannedImage) -> None:
        with self._lock:
            self._in_flight[image.id] = printable(f"{image.id} {image.entry.name or ''} {human_size(image.entry.size)}")
            self._live.update(self._render())

    def location_started(self, image: PlannedImage, location: Location) -> None:
        with self._lock:
            self._in_flight[image.id] = printable(
                f"{image.id} {image.entry.name or ''} {human_size(image.entry.size)} -> {location.shown_url}"
            )
            self._live.update(self._render())

    def image_finished(self, result: ImageResult) -> None:
        with self._lock:
            self._in_flight.pop(result.id, None)
            self._progress.advance(self._task)
            self._live.update(self._render())


class LoggedScrubProgress:
    """One plain log line per image and result (off a terminal: pipes, files, the journal)."""

    def __init__(self, dry_run: bool) -> None:
        self._suffix = " (dry run; not making any changes)" if dry_run else ""

    def __enter__(self) -> LoggedScrubProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def image_started(self, image: PlannedImage) -> None:
        logger.debug("image %s: started%s", _labelled(image.id, image.entry.name), self._suffix)

    def location_started(self, image: PlannedImage, location: Location) -> None:
        logger.debug("image %s: erasing %s%s", image.id, location.shown_url, self._suffix)

    def image_finished(self, result: ImageResult) -> None:
        level = logging.INFO if result.result in (Result.SCRUBBED, Result.WOULD_SCRUB) else logging.WARNING
        reason = f": {result.reason}" if result.reason else ""
        logger.log(
            level,
            "image %s %s, %d bytes%s%s",
            _labelled(result.id, result.name),
            result.result.value,
            result.bytes,
            reason,
            self._suffix,
        )


def _labelled(image_id: str, name: str | None) -> str:
    """``ID (name)``, or the id alone for an image without a name (or no image at all)."""
    return f"{image_id} ({name})" if name else image_id
