"""The plan a person confirms on a terminal: what would be erased and what is left alone, with why.

One line per image while the plan fits on the screen; past a screenful it is condensed as apt lists
what it will remove: the names wrapped on a few lines, the blocked ones as many as fit, then "and N
more" (``scrub --dry-run`` lists every one).
"""

from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from scrubctl.engine.model import Plan, PlannedImage
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


def plan_view(plan: Plan, width: int, height: int) -> list[RenderableType]:
    """What to print before the question, for a terminal of ``width`` x ``height``."""
    erasing = [item for item in plan.images if not item.reasons]
    blocked = [item for item in plan.images if item.reasons]
    budget = max(MIN_LIST_LINES, height - FRAME_LINES)
    if len(erasing) + len(blocked) <= budget:
        return _tables(erasing, blocked)
    blocked_lines = min(len(blocked), max(1, budget // 3)) if blocked else 0
    return _condensed(erasing, blocked, width, budget - blocked_lines, blocked_lines)


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


def _condensed(
    erasing: list[PlannedImage], blocked: list[PlannedImage], width: int, name_lines: int, blocked_lines: int
) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if erasing:
        total = sum(item.entry.size or 0 for item in erasing)
        parts.append(Text(f"To erase: {len(erasing)} image(s) of {human_size(total)} in all:", style="bold"))
        names = [printable(item.entry.name or item.entry.id) for item in erasing]
        lines, shown = _wrapped(names, width - 2, name_lines - 1)
        parts.extend(Text(f"  {line}") for line in lines)
        if shown < len(erasing):
            parts.append(Text(f"  ... and {len(erasing) - shown} more (scrub --dry-run lists every one)"))
    if blocked:
        parts.append(Text(f"Left alone (blocked): {len(blocked)} image(s):", style="bold"))
        shown_blocked = blocked[: max(1, blocked_lines - 1)] if len(blocked) > blocked_lines else blocked
        for item in shown_blocked:
            label = f"{item.entry.id} {item.entry.name or ''}".rstrip()
            parts.append(
                Text(
                    printable(f"  {label}: {'; '.join(item.reasons)}"),
                    style="yellow",
                    no_wrap=True,
                    overflow="ellipsis",
                )
            )
        if len(shown_blocked) < len(blocked):
            parts.append(Text(f"  ... and {len(blocked) - len(shown_blocked)} more blocked"))
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
