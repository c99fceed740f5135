"""Values as they are shown: plain strings (CSV, values, details) and rich ``Text`` table cells.

A cell is always a ``Text`` built from :func:`~scrubctl.settings.printable.printable` text: rich
never parses data as console markup (``[bold]``, ``[link=...]``, an install hint's ``[s3]``), and no
control character reaches the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.text import Text

from scrubctl.output.views import Lines
from scrubctl.settings.printable import printable


def plain(value: Any) -> str:
    """A value as one string (not yet escaped): ``""`` for None, ``true``/``false``, lists as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def cell(value: Any, mask: Callable[[str], str] | None = None) -> Text:
    """One table cell: the value as literal text (passed through ``mask`` first, when given), control
    characters escaped; each of several values (:class:`~scrubctl.output.views.Lines`) on a line of
    its own."""
    shown = mask or _unchanged
    if isinstance(value, Lines):
        return Text("\n".join(printable(shown(item)) for item in value))
    return Text(printable(shown(plain(value))))


def _unchanged(text: str) -> str:
    return text
