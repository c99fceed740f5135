"""The plan a person confirms on a terminal: what would be erased and what is left alone, with why.

One line per image while the plan fits on the screen; past a screenful it is condensed as apt lists
what it will remove: the names wrapped on a few lines, the blocked ones as many as fit, then "and N
more" (``scrub --dry-run`` lists every one).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from scrubctl.engine.model import Plan, PlannedImage
from scrubctl.output.layout import Cell, Fit, fitted_table
from scrubctl.output.views import human_age, human_size
from scrubctl.settings.printable import printable

# Lines around the lists: the plan line, two tables' titles, headers, rules and blank lines, the prompt.
FRAME_LINES = 12
MIN_LIST_LINES = 4


def erase_question(plan: Plan) -> str:
    """The confirmation question: the images that would actually be erased (not the blocked ones)."""
    question = f"Erase the data of {plan.to_scrub_count} image(s)"
    partly = plan.locations_of_blocked_images_to_erase
    if partly:
        question += f", and {partly} location(s) of blocked images"
    return question + "?"


def list_budget(height: int) -> int:
    """How many lines the lists shown before a question (or after a run) may take on a terminal
    ``height`` lines high."""
    return max(MIN_LIST_LINES, height - FRAME_LINES)


def plan_view(plan: Plan, width: int, height: int) -> list[RenderableType]:
    """What to print before the question, for a terminal of ``width`` x ``height``."""
    erasing = [item for item in plan.images if not item.reasons]
    blocked = [item for item in plan.images if item.reasons]
    budget = list_budget(height)
    if len(erasing) + len(blocked) <= budget:
        return _tables(erasing, blocked)
    total = sum(item.entry.size or 0 for item in erasing)
    return condensed_lists(
        (
            f"To erase: {len(erasing)} image(s) of {human_size(total)} in all:",
            [item.entry.name or item.entry.id for item in erasing],
            "(scrub --dry-run lists every one)",
        ),
        (
            f"Left alone (blocked): {len(blocked)} image(s):",
            [(f"{item.entry.id} {item.entry.name or ''}".rstrip(), "; ".join(item.reasons)) for item in blocked],
            "blocked",
        ),
        width,
        budget,
    )


def _shown(value: str) -> Text:
    """A cell of data: literal text (never console markup), control characters escaped."""
    return Text(printable(value))


def _stores(item: PlannedImage) -> Text:
    labels = [planned.location.store_label or "?" for planned in item.locations if not planned.blocked]
    return _shown(", ".join(dict.fromkeys(labels)) or "-")


def _tables(erasing: list[PlannedImage], blocked: list[PlannedImage]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if erasing:
        table = Table(box=box.SIMPLE_HEAD, title="To erase", title_justify="left", pad_edge=False)
        for header in ("ID", "Name", "Size", "Age", "Stores"):
            table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=36 if header == "Name" else None)
        for item in erasing:
            entry = item.entry
            table.add_row(
                entry.id, _shown(entry.name or "-"), human_size(entry.size), human_age(entry.age_seconds), _stores(item)
            )
        parts.append(table)
    if blocked:
        table = Table(box=box.SIMPLE_HEAD, title="Left alone (blocked)", title_justify="left", pad_edge=False)
        table.add_column("ID", no_wrap=True)
        table.add_column("Name", no_wrap=True, overflow="ellipsis", max_width=36)
        table.add_column("Size", no_wrap=True)
        table.add_column("Why", overflow="fold")
        for item in blocked:
            entry = item.entry
            reasons = _shown("; ".join(item.reasons))
            table.add_row(entry.id, _shown(entry.name or "-"), human_size(entry.size), reasons, style="yellow")
        parts.append(table)
    return parts


def condensed_lists(
    taken: tuple[str, Sequence[str], str],
    left_alone: tuple[str, Sequence[tuple[str, str]], str],
    width: int,
    budget: int,
) -> list[RenderableType]:
    """Two lists in ``budget`` lines, as apt lists what it will remove: ``taken`` (a heading, the names,
    what the "and N more" line adds) as names wrapped on a few lines, then ``left_alone`` (a heading,
    ``(label, why)`` pairs, the word after "and N more") one per line, as many as fit (a third of the
    lines at most). An empty list is left out."""
    heading, names, more = taken
    blocked_heading, blocked, more_blocked = left_alone
    blocked_lines = min(len(blocked), max(1, budget // 3)) if blocked else 0
    parts: list[RenderableType] = []
    if names:
        parts.extend(wrapped_names(heading, names, width, budget - blocked_lines, more))
    if blocked:
        parts.append(Text(blocked_heading, style="bold"))
        shown = blocked[: max(1, blocked_lines - 1)] if len(blocked) > blocked_lines else blocked
        for label, why in shown:
            parts.append(Text(printable(f"  {label}: {why}"), style="yellow", no_wrap=True, overflow="ellipsis"))
        if len(shown) < len(blocked):
            parts.append(Text(f"  ... and {len(blocked) - len(shown)} more {more_blocked}"))
    return parts


def taken_and_left_tables(
    taken: tuple[str, Sequence[Fit]],
    taken_rows: Sequence[Sequence[Cell]],
    left_alone: tuple[str, Sequence[Fit]],
    left_alone_rows: Sequence[Sequence[Cell]],
    width: int,
) -> list[RenderableType]:
    """The two lists as tables when they fit on the screen (``orphans --reclaim``, ``broken --repair``):
    ``taken`` and ``left_alone`` (a title and the columns) with their rows, the rows left alone in
    yellow. An empty list is left out."""
    parts: list[RenderableType] = []
    for (title, fits), rows, style in ((taken, taken_rows, None), (left_alone, left_alone_rows, "yellow")):
        if rows:
            parts.append(fitted_table(fits, rows, width, title=title, styles=[style] * len(rows)))
    return parts


def wrapped_names(heading: str, names: Sequence[str], width: int, lines: int, more: str) -> list[RenderableType]:
    """``heading``, then ``names`` wrapped on the ``lines - 1`` lines that follow it, then
    "... and N more ``more``" for those left out."""
    parts: list[RenderableType] = [Text(heading, style="bold")]
    wrapped, shown = _wrapped([printable(name) for name in names], width - 2, lines - 1)
    parts.extend(Text(f"  {line}") for line in wrapped)
    if shown < len(names):
        parts.append(Text(f"  ... and {len(names) - shown} more {more}"))
    return parts


def _wrapped(words: list[str], width: int, max_lines: int) -> tuple[list[str], int]:
    """Wrap ``words`` on at most ``max_lines`` lines of ``width``; return the lines and how many
    words they hold."""
    lines: list[str] = []
    current = ""
    count = 0
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= width or not current:
            current, count = candidate, count + 1
            continue
        lines.append(current)
        if len(lines) >= max(1, max_lines):
            return lines, count
        current, count = word, count + 1
    if current:
        lines.append(current)
    return lines, count
