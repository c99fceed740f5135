"""All terminal output: the one module that imports rich.

Results go to stdout (tables, JSON, CSV, values); diagnostics and progress go to stderr. Colour
and live displays only on a terminal; ``NO_COLOR`` is honoured.

Text from the database or a store is data: every cell is a rich ``Text`` (never parsed as console
markup) of :func:`~scrubctl.settings.printable.printable` text, and CSV and values are escaped the
same way; JSON escapes on its own (``\u001b``, ``\u202e``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from scrubctl.errors import BadInputError
from scrubctl.output import OUTPUT_FORMATS as OUTPUT_FORMATS
from scrubctl.output.cells import cell, plain
from scrubctl.output.layout import Fit, fitted_table
from scrubctl.output.question import TerminalConfirm
from scrubctl.output.streams import diagnostic, dropped_when_gone
from scrubctl.output.views import Column, flattened, human_size, one_line
from scrubctl.settings.printable import printable
from scrubctl.settings.secrets import mask_url
from scrubctl.unattended.logs import unattended

TABLE_CHUNK_ROWS = 200
JSON_WRITE_BATCH = 2000


class _Console(Console):
    """A rich console that lets a closed pipe end the command through scrubctl's own handling
    (rich's default exits with status 1 and points stdout at /dev/null itself)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def select_columns(columns: Sequence[Column], wanted: Sequence[str], default: Sequence[str]) -> list[Column]:
    """Return the columns named by ``-c`` (in that order), or the defaults; reject unknown names.

    A column is named by its name (``age_seconds``, as in JSON) or by its table header (``Age``,
    ``"Blocked by"``), in any case."""
    by_name: dict[str, Column] = {}
    for column in columns:
        by_name.setdefault(column.name.lower(), column)
    for column in columns:
        by_name.setdefault(column.header.lower(), column)
    names = list(wanted) or list(default)
    unknown = [name for name in names if name.lower() not in by_name]
    if unknown:
        choices = ", ".join(f"{column.name} ({column.header})" for column in columns)
        raise BadInputError(f"unknown column(s) {', '.join(unknown)}; choose from {choices}")
    return [by_name[name.lower()] for name in names]


class Renderer:
    """Owns the consoles and writes every result and diagnostic the commands produce."""

    def __init__(
        self,
        *,
        output_format: str = "table",
        columns: Sequence[str] = (),
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        mask: Callable[[str], str] = mask_url,
    ) -> None:
        self.output_format = output_format
        self.mask = mask  # applied to every free text shown (reasons, details, messages)
        self.wanted_columns = tuple(columns)
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        no_color = bool(os.environ.get("NO_COLOR"))
        width = None if self.stdout.isatty() else int(os.environ.get("COLUMNS", "200"))
        self.out = _Console(file=self.stdout, no_color=no_color, highlight=False, width=width)
        self.err = _Console(file=self.stderr, no_color=no_color, highlight=False, stderr=True)

    @property
    def interactive(self) -> bool:
        """Whether stderr is a terminal a person watches (progress, prompts)."""
        return not unattended(self.stderr)

    def listing(
        self,
        sections: Iterable[tuple[str, Iterable[dict[str, Any]]]],
        columns: Sequence[Column],
        table_columns: Sequence[str],
        fits: Mapping[str, Fit] | None = None,
    ) -> tuple[int, int]:
        """Write a streamed listing in the chosen format; return ``(rows, total bytes)``.

        Without ``-c``, a table shows ``table_columns`` and the other formats every column; ``fits``
        lays a table's columns out by name (a column without one wraps as it needs).
        """
        default = table_columns if self.output_format == "table" else [column.name for column in columns]
        chosen = select_columns(columns, self.wanted_columns, default)
        if self.output_format == "table":
            return self._table_rows(sections, chosen, fits or {})
        writer = {"json": self._json_rows, "csv": self._csv_rows, "value": self._value_rows}[self.output_format]
        return writer(sections, chosen)

    def _json_rows(
        self, sections: Iterable[tuple[str, Iterable[dict[str, Any]]]], chosen: list[Column]
    ) -> tuple[int, int]:
        count = total = 0
        encode = json.JSONEncoder().encode
        pairs = [(column.name, column.value) for column in chosen]
        parts = ["["]
        for _title, rows in sections:
            for view in rows:
                parts.append(",\n" if count else "\n")
                parts.append(encode({name: value(view) for name, value in pairs}))
                count += 1
                total += view.get("size") or 0
                if len(parts) >= JSON_WRITE_BATCH:
                    self.stdout.write("".join(parts))
                    parts.clear()
        parts.append("\n]\n" if count else "]\n")
        self.stdout.write("".join(parts))
        self.stdout.flush()
        return count, total

    def _csv_rows(
        self, sections: Iterable[tuple[str, Iterable[dict[str, Any]]]], chosen: list[Column]
    ) -> tuple[int, int]:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow([column.name for column in chosen])
        return self._plain_rows(sections, chosen, writer.writerow)

    def _value_rows(
        self, sections: Iterable[tuple[str, Iterable[dict[str, Any]]]], chosen: list[Column]
    ) -> tuple[int, int]:
        return self._plain_rows(
            sections, chosen, lambda cells: self.stdout.write(" ".join(one_line(cell) for cell in cells) + "\n")
        )

    @staticmethod
    def _plain_rows(
        sections: Iterable[tuple[str, Iterable[dict[str, Any]]]], chosen: list[Column], emit: Any
    ) -> tuple[int, int]:
        count = total = 0
        for _title, rows in sections:
            for view in rows:
                emit([printable(plain(column.value(view))) for column in chosen])
                count += 1
                total += view.get("size") or 0
        return count, total

    def _table_rows(
        self,
        sections: Iterable[tuple[str, Iterable[dict[str, Any]]]],
        chosen: list[Column],
        fits: Mapping[str, Fit],
    ) -> tuple[int, int]:
        count = total = 0
        for title, rows in sections:
            chunk: list[dict[str, Any]] = []
            printed_header = False
            for view in rows:
                chunk.append(view)
                count += 1
                total += view.get("size") or 0
                if len(chunk) >= TABLE_CHUNK_ROWS:
                    self._print_table(title, chunk, chosen, fits, header=not printed_header)
                    printed_header, chunk = True, []
            if chunk or not printed_header:
                self._print_table(title, chunk, chosen, fits, header=not printed_header)
        self.out.print(Text(f"Total: {count} image(s), {human_size(total)} ({total} bytes)", style="bold"))
        return count, total

    def _print_table(
        self, title: str, rows: list[dict[str, Any]], chosen: list[Column], fits: Mapping[str, Fit], *, header: bool
    ) -> None:
        if header:
            self.out.print(Text(f"{title}:", style="bold"))
        if not rows:
            self.out.print("  (none)")
            return
        table = fitted_table(
            [replace(fits.get(column.name, Fit(column.header)), header=column.header) for column in chosen],
            [[column.human(view) for column in chosen] for view in rows],
            self.out.width,
            show_header=header,
            styles=["red" if view.get("blockers") else None for view in rows],
        )
        self.out.print(table)
        self.out.print()

    def details(
        self,
        title: str,
        fields: Sequence[tuple[str, Any]],
        tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
        document: dict[str, Any],
    ) -> None:
        """Write one object: key/value fields and sub-tables, or ``document`` as JSON."""
        if self.output_format == "json":
            self.stdout.write(self.mask(json.dumps(document, indent=2)) + "\n")
            return
        if self.output_format == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(["field", "value"])
            for name, value in fields:
                writer.writerow([name, self._text(value)])
            return
        if self.output_format == "value":
            # ``key value``, one per line: the fields, then the nested parts of the document with
            # dotted keys (``locations.0.url``, ``properties.1.name``).
            nested = [
                pair
                for key, part in document.items()
                if isinstance(part, (list, dict))
                for pair in flattened(key, part)
            ]
            for name, value in [*fields, *nested]:
                self.stdout.write(f"{name} {one_line(self._text(value))}\n")
            return
        summary = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, title_justify="left")
        summary.add_column("Field", style="bold")
        summary.add_column("Value", overflow="fold")
        for name, value in fields:
            summary.add_row(name, Text(self._text(value)))
        self.out.print(summary)
        for heading, headers, rows in tables:
            self.table(heading, headers, rows)

    def confirm_shown(self, view: Callable[[int, int], Iterable[RenderableType]], question: str) -> bool:
        """Show ``view(width, height)`` of the terminal on stderr (what would be done), then ask."""
        size = self.err.size
        for part in view(size.width, size.height):
            self.err.print(part)
        return self.confirm(question)

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question on the terminal (callers only ask when stdin is a terminal); no answer
        (end of input, Ctrl-D) is no; Ctrl-C raises :class:`KeyboardInterrupt`, however soon it is typed."""
        try:
            return TerminalConfirm.ask(Text(question), console=self.err, default=False)
        except EOFError:
            self.err.print()  # end the question's line
            return False

    @property
    def can_prompt(self) -> bool:
        """Whether a person can answer a prompt (stdin and stderr are terminals, not a timer)."""
        return sys.stdin.isatty() and self.interactive

    def unreachable(self, problems: Iterable[str]) -> None:
        """Name the stores or database a run could not reach on stderr, one line each, however long
        (unattended, with its journald priority)."""
        for problem in problems:
            diagnostic(self.err, "unreachable", self.mask(problem), logging.ERROR, "red")

    def results(
        self,
        title: str,
        document: dict[str, Any],
        fits: Sequence[Fit],
        rows: Sequence[Sequence[Any]],
        styles: Sequence[str | None],
        summary: str,
    ) -> None:
        """Write the results of work done (a reclaim, a repair): ``document`` as JSON; otherwise a table
        titled ``title`` (its columns ``fits``, its ``rows`` styled one by one), the ``summary`` line,
        and what the run could not reach (the document's ``summary.unreachable``)."""
        if self.output_format == "json":
            self.details(title, [], [], document)
            return
        self.out.print(fitted_table(fits, rows, self.out.width, title=title, styles=styles))
        self.message(summary)
        self.unreachable(document["summary"]["unreachable"])

    def work_done(self) -> AbstractContextManager[None]:
        """Around the report of work already done (a scrub, a restore, a reclaim, a repair): when the
        reader of stdout or stderr has gone, the rest is dropped and the command keeps its exit code."""
        return dropped_when_gone(self.out, self.err)

    def check_line(self, name: str, ok: bool, detail: str) -> None:
        """One line of ``scrubctl check``."""
        mark = Text("ok  ", style="green") if ok else Text("FAIL", style="bold red")
        self.out.print(Text.assemble(mark, f" {name}: {printable(self.mask(detail))}"), soft_wrap=True)  # one line each

    def message(self, text: str) -> None:
        """Write an informational line for people to stdout (plain, no markup, controls escaped)."""
        self.out.print(Text(printable(self.mask(text))))

    def raw(self, text: str) -> None:
        """Write ``text`` to stdout exactly as it is (a script, a file's contents)."""
        self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    def warning(self, text: str) -> None:
        """Write a warning to stderr (one line, ``<4>`` when unattended)."""
        diagnostic(self.err, "warning", self.mask(text), logging.WARNING, "yellow")

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Write one titled table to stdout, every cell masked and escaped (``-`` for no row)."""
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*(cell(value, self.mask) for value in row))
        if not rows:
            table.add_row(*("-" for _ in headers))
        self.out.print(table)

    def _text(self, value: Any) -> str:
        return printable(self.mask(plain(value)))
