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
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.prompt import Confirm
from rich.table import Table
from rich.text import Text

from scrubctl.engine.model import Plan, Report
from scrubctl.errors import BadInputError
from scrubctl.output import OUTPUT_FORMATS as OUTPUT_FORMATS
from scrubctl.output.cells import cell, plain
from scrubctl.output.layout import Fit, fitted_table
from scrubctl.output.plan import erase_question, plan_view
from scrubctl.output.progress import LiveScrubProgress, LoggedScrubProgress
from scrubctl.output.results import results_view
from scrubctl.output.streams import diagnostic, dropped_when_gone
from scrubctl.output.views import Column, flattened, human_duration, human_size, one_line
from scrubctl.settings.printable import printable
from scrubctl.settings.secrets import mask_url
from scrubctl.unattended.logs import DEFAULT_PROGRESS_INTERVAL, is_journal, unattended

logger = logging.getLogger("scrubctl.scrub")
TABLE_CHUNK_ROWS = 200
JSON_WRITE_BATCH = 2000
# How list-pending's columns are laid out. Fixed widths keep the columns of a streamed table aligned
# from one chunk to the next. Compact locations (``archive:<image id>``) never wrap: one line per
# location, so one image per line on a 160-column terminal; reasons take what is left and wrap. On a
# narrower terminal the locations, then the name, then the other columns that decide nothing go under
# the id; the size, age, due and blockers stay (``keep``).
FITS = {
    "id": Fit("ID", width=36, keep=10),
    "name": Fit("Name", min_width=10, max_width=20, no_wrap=True, keep=1),
    "owner": Fit("Owner", width=32, keep=2),
    "size": Fit("Size", width=10, keep=9),
    "status": Fit("Status", width=14, keep=5),
    "visibility": Fit("Visibility", width=10, keep=3),
    "deleted_at": Fit("Deleted at", width=20, keep=3),
    "age_seconds": Fit("Age", width=7, keep=9),
    "due": Fit("Due", width=3, keep=9),
    "pending": Fit("Pending", width=9, keep=4),
    "stores": Fit("Stores", min_width=8, no_wrap=True, keep=2),
    "locations": Fit("Locations", min_width=44, max_width=60, no_wrap=True, keep=0, label=False),
    "blockers": Fit("Blocked by", min_width=24, keep=8),
}


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
    ) -> tuple[int, int]:
        """Write a streamed listing in the chosen format; return ``(rows, total bytes)``.

        Without ``-c``, a table shows ``table_columns`` and the other formats every column.
        """
        default = table_columns if self.output_format == "table" else [column.name for column in columns]
        chosen = select_columns(columns, self.wanted_columns, default)
        writer = {
            "json": self._json_rows,
            "csv": self._csv_rows,
            "value": self._value_rows,
            "table": self._table_rows,
        }[self.output_format]
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

    def _json_report(self, report: Report) -> None:
        """``{"summary": ..., "images": [...]}`` as ``json.dumps`` writes it, written and masked image
        by image (no document of every result is built in memory)."""
        encode = json.JSONEncoder().encode
        parts = [self.mask(f'{{"summary": {encode(report.summary.as_dict())}, "images": [')]
        for index, image in enumerate(report.images):
            parts.append((", " if index else "") + self.mask(encode(image.as_dict())))
            if len(parts) >= JSON_WRITE_BATCH:
                self.stdout.write("".join(parts))
                parts.clear()
        parts.append("]}\n")
        self.stdout.write("".join(parts))
        self.stdout.flush()

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
        self, sections: Iterable[tuple[str, Iterable[dict[str, Any]]]], chosen: list[Column]
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
                    self._print_table(title, chunk, chosen, header=not printed_header)
                    printed_header, chunk = True, []
            if chunk or not printed_header:
                self._print_table(title, chunk, chosen, header=not printed_header)
        self.out.print(Text(f"Total: {count} image(s), {human_size(total)} ({total} bytes)", style="bold"))
        return count, total

    def _print_table(self, title: str, rows: list[dict[str, Any]], chosen: list[Column], *, header: bool) -> None:
        if header:
            self.out.print(Text(f"{title}:", style="bold"))
        if not rows:
            self.out.print("  (none)")
            return
        fits = [replace(FITS.get(column.name, Fit(column.header)), header=column.header) for column in chosen]
        table = fitted_table(
            fits,
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
            table = Table(title=heading, box=box.SIMPLE_HEAD, title_justify="left")
            for header in headers:
                table.add_column(header, overflow="fold")
            for row in rows:
                table.add_row(*(Text(self._text(cell)) for cell in row))
            if not rows:
                table.add_row(*("-" for _ in headers))
            self.out.print(table)

    def plan_summary(self, plan: Plan, dry_run: bool) -> None:
        """Describe the plan on stderr before anything is done."""
        label = " (dry run; not making any changes)" if dry_run else ""
        line = (
            f"Plan: {plan.to_scrub_count} image(s) to scrub, {plan.blocked_count} blocked, "
            f"{len(plan.missing)} named but not in the queue; {human_size(plan.bytes_to_erase)} of data to erase{label}"
        )
        if self.interactive:
            self.err.print(Text(line))
        else:
            logger.info("%s", line)

    def confirm_plan(self, plan: Plan) -> bool:
        """Show what the plan would erase (and leave alone, and why), then ask about exactly that."""
        return self.confirm_shown(lambda width, height: plan_view(plan, width, height), erase_question(plan))

    def confirm_shown(self, view: Callable[[int, int], Iterable[RenderableType]], question: str) -> bool:
        """Show ``view(width, height)`` of the terminal on stderr (what would be done), then ask."""
        size = self.err.size
        for part in view(size.width, size.height):
            self.err.print(part)
        return self.confirm(question)

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question on the terminal (callers only ask when stdin is a terminal); no answer
        (end of input, Ctrl-D) is no."""
        try:
            return Confirm.ask(Text(question), console=self.err, default=False)
        except EOFError:
            self.err.print()  # end the question's line
            return False

    @property
    def can_prompt(self) -> bool:
        """Whether a person can answer a prompt (stdin and stderr are terminals, not a timer)."""
        return sys.stdin.isatty() and self.interactive

    def scrub_progress(
        self, plan: Plan, dry_run: bool, interval: float = DEFAULT_PROGRESS_INTERVAL
    ) -> LiveScrubProgress | LoggedScrubProgress:
        """The progress observer for a run: live on a terminal, otherwise one log line per image and
        one every ``interval`` seconds of a long erase."""
        if self.interactive:
            return LiveScrubProgress(self.err, len(plan.images), dry_run, plan.bytes_to_erase)
        return LoggedScrubProgress(dry_run, interval)

    def scrub_report(self, report: Report) -> None:
        """Write a run's results: the JSON document, or a table of images and a summary; then a
        line on stderr for each store or database found unreachable. Into the journal, the summary is
        one log line with its priority: the images have their lines already. Once the work is done,
        a reader that has gone changes nothing (the command keeps its exit code)."""
        with self.work_done():
            self._scrub_results(report)

    def _scrub_results(self, report: Report) -> None:
        if self.output_format == "json":
            self._json_report(report)
            self.unreachable(report.summary.unreachable)
            return
        summary = report.summary
        journal = is_journal(self.stdout)
        if report.images and not journal and (self.out.is_terminal or len(report.images) <= TABLE_CHUNK_ROWS):
            height = self.out.size.height if self.out.is_terminal else None
            for part in results_view(report, self.out.width, height, self.mask):
                self.out.print(part)
        label = " (dry run; nothing changed)" if summary.dry_run else ""
        erased = summary.bytes_would_erase if summary.dry_run else summary.bytes_erased
        parts = [
            f"{summary.would_scrub if summary.dry_run else summary.scrubbed} "
            f"{'would be scrubbed' if summary.dry_run else 'scrubbed'}",
            f"{summary.blocked} blocked",
            f"{summary.failed} failed",
            f"{summary.taken_by_other_run} taken by another run",
        ]
        if summary.not_started:
            parts.append(f"{summary.not_started} not started")
        if summary.interrupted:
            parts.append("interrupted")
        erasing = f"{human_size(erased)} of data {'would be erased' if summary.dry_run else 'erased'}"
        if summary.locations_already_gone:
            erasing += f" ({summary.locations_already_gone} location(s) already gone)"
        took = human_duration(summary.duration_seconds)
        line = f"Summary{label}: " + ", ".join(parts) + f"; {erasing} in {took}"
        if journal:
            failed = summary.failed or summary.unreachable or summary.not_started or summary.not_found
            warned = summary.blocked or summary.interrupted
            logger.log(logging.ERROR if failed else logging.WARNING if warned else logging.INFO, "%s", line)
            for problem in summary.unreachable:
                logger.error("unreachable: %s", problem)
            return
        self.out.print(Text(line))
        self.unreachable(summary.unreachable)

    def unreachable(self, problems: Iterable[str]) -> None:
        """Name the stores or database a run could not reach on stderr, one line each, however long
        (unattended, with its journald priority)."""
        for problem in problems:
            diagnostic(self.err, "unreachable", self.mask(problem), logging.ERROR, "red")

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

    def _text(self, value: Any) -> str:
        return printable(self.mask(plain(value)))


def plain_table(renderer: Renderer, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write one titled table to stdout (for the table format of ``orphans`` and ``broken``)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(cell(value) for value in row))
    if not rows:
        table.add_row(*("-" for _ in headers))
    renderer.out.print(table)
