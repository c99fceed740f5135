"""A scrub run's results as a person reads them on a terminal.

Every image, one row each, while they fit on the screen (and always off a terminal); past a
screenful they are condensed the way the plan is before the question: the failed and blocked images
first, in full, then the scrubbed ones as names wrapped on a few lines and "and N more scrubbed"
(``-f json`` lists every one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import RenderableType

from scrubctl.engine.model import ImageResult, Report, Result
from scrubctl.output.layout import Fit, fitted_table
from scrubctl.output.plan import MIN_LIST_LINES, list_budget, wrapped_names
from scrubctl.output.views import human_size

RESULT_STYLES = {Result.SCRUBBED: "green", Result.WOULD_SCRUB: "cyan", Result.BLOCKED: "yellow", Result.FAILED: "red"}
# The id never wraps; on a narrow terminal the name, then the reason, go under it.
RESULT_FITS = (
    Fit("ID", width=36, keep=10),
    Fit("Name", min_width=10, max_width=36, no_wrap=True, keep=1),
    Fit("Result", width=11, keep=9),
    Fit("Size", width=10, keep=8),
    Fit("Reason", min_width=24, keep=2),
)
# The lines around the condensed lists: the titles, a table's header and rule, the summary.
CONDENSED_FRAME_LINES = 4


def results_view(report: Report, width: int, height: int | None, mask: Callable[[str], str]) -> list[RenderableType]:
    """What to print for ``report`` on a terminal ``width`` x ``height`` (``height`` None: not a
    terminal, every image)."""
    images = report.images
    budget = None if height is None else list_budget(height)
    if budget is None or len(images) <= budget:
        return [_table("Results", images, width, mask)]
    problems = [item for item in images if item.result is Result.FAILED]
    problems += [item for item in images if item.result is Result.BLOCKED]
    done = [item for item in images if item.result in (Result.SCRUBBED, Result.WOULD_SCRUB)]
    parts: list[RenderableType] = []
    if problems:
        title = f"Results: {len(problems)} of {len(images)} image(s) failed or blocked, in full"
        parts.append(_table(title, problems, width, mask))
    if done:
        verb = "would be scrubbed" if report.summary.dry_run else "scrubbed"
        heading = f"{verb.capitalize()}: {len(done)} image(s), {human_size(sum(item.bytes for item in done))} in all:"
        lines = max(MIN_LIST_LINES, budget - len(problems) - CONDENSED_FRAME_LINES)
        names = [item.name or item.id for item in done]
        parts.extend(wrapped_names(heading, names, width, lines, f"{verb} (scrub -f json lists every one)"))
    return parts


def _table(title: str, images: Sequence[ImageResult], width: int, mask: Callable[[str], str]) -> RenderableType:
    rows = [(item.id, item.name or "-", item.result.value, _size(item), _reason(item, mask)) for item in images]
    styles = [RESULT_STYLES.get(item.result) for item in images]
    return fitted_table(RESULT_FITS, rows, width, title=title, styles=styles)


def _size(item: ImageResult) -> str:
    """The size an image is shown at from plan to result: the one Glance recorded (what the stores
    freed for the pending locations of a live image, or an image named but not in the queue)."""
    return human_size(item.bytes if item.size is None else item.size)


def _reason(item: ImageResult, mask: Callable[[str], str]) -> str:
    """The result's reason, after what the stores freed when that is not the recorded size."""
    parts = [mask(item.reason)] if item.reason else []
    if item.size is not None and item.bytes not in (0, item.size):
        parts.insert(0, f"the stores freed {human_size(item.bytes)}")
    return "; ".join(parts) or "-"
