"""Tables that fit the terminal's width without losing a column.

A column is fixed (an id, a size, an age: always whole, on one line) or flexible (a name, a reason:
wrapped, or ended with an ellipsis, between a minimum and a maximum width). When the terminal is too
narrow for every column at its minimum, the columns that matter least go, one by one, under the
first column as labelled lines of its cell (``Name: debian-12``, ``Blocked by: ...``), where they
wrap: nothing is dropped, and no id is cut or wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from scrubctl.output.cells import cell as shown_cell
from scrubctl.output.views import Lines

# Between two columns: the right padding of one, the divider, the left padding of the next; on a
# terminal too narrow for the short fixed columns (size, age, due) side by side, the divider alone.
GAP = 3
NARROW_GAP = 1
# The first column, once other columns are stacked under it, is at least this wide.
STACKED_MIN_WIDTH = 30
# Stacked lines are indented under the first column's own value.
INDENT = "  "


@dataclass(frozen=True)
class Fit:
    """How one column may be laid out."""

    header: str
    width: int | None = None  # fixed: exactly this wide, one line (longer values end in an ellipsis)
    min_width: int = 10  # flexible: never narrower; stacked under the first column rather than squeezed
    max_width: int | None = None
    no_wrap: bool = False  # a flexible column whose lines end in an ellipsis instead of wrapping
    keep: int = 0  # who stays a column longest on a narrow terminal: the lowest are stacked first
    justify: JustifyMethod = "left"
    label: bool = True  # stacked, its value follows its header (``Name: ...``); else it stands alone

    @property
    def least_width(self) -> int:
        """The narrowest this column may be."""
        return self.width if self.width is not None else self.min_width


Cell = str | Lines | Text


def fitted_table(
    fits: Sequence[Fit],
    rows: Sequence[Sequence[Cell]],
    width: int,
    *,
    title: str | None = None,
    show_header: bool = True,
    styles: Sequence[str | None] | None = None,
) -> Table:
    """A table of ``rows`` no wider than ``width``, its columns laid out as ``fits`` say."""
    shown, stacked, gap = columns_that_fit(fits, width)
    cells = [[_text(fits[index], row[index]) for index in shown] for row in rows]
    under = [[line for index in stacked for line in _stacked_lines(fits[index], row[index])] for row in rows]
    # Each cell's widest line; the stacked lines (indented) count with the first column's.
    natural = [[_widest_line(cell) for cell in row] for row in cells]
    for row, lines in zip(natural, under, strict=True):
        row[0] = max([row[0], *(len(INDENT) + _widest_line(line) for line in lines)])
    widths = _widths([fits[index] for index in shown], natural, width, gap, stacked=bool(stacked))
    table = Table(
        box=box.SIMPLE_HEAD,
        show_header=show_header,
        show_edge=False,
        pad_edge=False,
        padding=(0, (gap - 1) // 2),
        title=title,
        title_justify="left",
    )
    for index, column_width in zip(shown, widths, strict=True):
        fit = fits[index]
        table.add_column(fit.header, width=column_width, justify=fit.justify)
    for number, (row_cells, lines) in enumerate(zip(cells, under, strict=True)):
        first: RenderableType = Group(row_cells[0], _indented(lines)) if lines else row_cells[0]
        table.add_row(first, *row_cells[1:], style=styles[number] if styles else None)
    return table


def columns_that_fit(fits: Sequence[Fit], width: int) -> tuple[list[int], list[int], int]:
    """The indexes of the columns shown side by side and of those stacked under the first (in their
    own order), and the gap between columns, for a terminal ``width`` columns wide."""
    wide = _stacking(fits, width, GAP)
    narrow = _stacking(fits, width, NARROW_GAP)
    fixed_stacked = [index for index in wide[1] if fits[index].width is not None and index not in narrow[1]]
    return (*narrow, NARROW_GAP) if fixed_stacked else (*wide, GAP)


def _stacking(fits: Sequence[Fit], width: int, gap: int) -> tuple[list[int], list[int]]:
    shown = list(range(len(fits)))
    stacked: list[int] = []
    # The lowest ``keep`` goes first; between equals, the one furthest right.
    for index in sorted(range(1, len(fits)), key=lambda index: (fits[index].keep, -index)):
        if _least_total([fits[position] for position in shown], gap, stacked=bool(stacked)) <= width:
            break
        shown.remove(index)
        stacked.append(index)
    return shown, sorted(stacked)


def _least_total(fits: Sequence[Fit], gap: int, *, stacked: bool) -> int:
    widths = [fit.least_width for fit in fits]
    if stacked:
        widths[0] = max(widths[0], STACKED_MIN_WIDTH)
    return sum(widths) + gap * (len(widths) - 1)


def _widths(fits: Sequence[Fit], natural: Sequence[Sequence[int]], width: int, gap: int, *, stacked: bool) -> list[int]:
    """Each column as wide as its widest line (within its bounds), the widest flexible ones narrowed
    first until the table fits."""
    lowest: list[int] = []
    highest: list[int] = []
    for position, fit in enumerate(fits):
        widest = max([Text(fit.header).cell_len, *(row[position] for row in natural)])
        if position == 0 and stacked:
            floor = max(fit.least_width, STACKED_MIN_WIDTH)
            lowest.append(floor)
            highest.append(max(widest, floor))
        elif fit.width is not None:
            lowest.append(fit.width)
            highest.append(fit.width)
        else:
            ceiling = min(widest, fit.max_width or widest)
            lowest.append(min(fit.min_width, ceiling))
            highest.append(ceiling)
    widths = list(highest)
    excess = sum(widths) + gap * (len(widths) - 1) - width
    while excess > 0:
        narrowable = [position for position in range(len(widths)) if widths[position] > lowest[position]]
        if not narrowable:
            break
        widest = max(widths[position] for position in narrowable)
        top = [position for position in narrowable if widths[position] == widest]
        below = [widths[position] for position in narrowable if widths[position] < widest]
        target = max([*below, *(lowest[position] for position in top)])
        step = max(1, min(widest - target, -(-excess // len(top))))
        for position in top:
            cut = min(step, widths[position] - lowest[position], excess)
            widths[position] -= cut
            excess -= cut
    return widths


def _widest_line(text: Text) -> int:
    return max(line.cell_len for line in text.split("\n", allow_blank=True))


def _text(fit: Fit, value: Cell) -> Text:
    """A cell as a text on one line (ellipsis), or wrapping, as its column is."""
    text = value.copy() if isinstance(value, Text) else shown_cell(value)  # data: literal, escaped
    if fit.width is not None or fit.no_wrap:
        text.no_wrap, text.overflow = True, "ellipsis"
    else:
        text.overflow = "fold"
    return text


def _stacked_lines(fit: Fit, cell: Cell) -> list[Text]:
    """A stacked column's value, after its header when labelled, each line of the value on one line
    (ellipsis) or wrapping as its column does. Nothing for an empty value or ``-``."""
    text = _text(fit, cell)
    if text.plain in ("", "-"):
        return []
    lines = []
    for number, part in enumerate(text.split("\n")):
        line = Text(no_wrap=text.no_wrap, overflow=text.overflow)
        if fit.label and number == 0:
            line.append(f"{fit.header}: ", style="bold")
        line.append_text(part)
        lines.append(line)
    return lines


def _indented(lines: Sequence[Text]) -> Table:
    """Lines indented under the first column's own value, wrapped lines too."""
    grid = Table.grid()
    grid.add_column(width=len(INDENT))
    grid.add_column()
    for line in lines:
        grid.add_row("", line)
    return grid
