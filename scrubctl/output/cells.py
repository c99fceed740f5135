"""Values as they are shown: plain strings (CSV, values, details) and rich ``Text`` table cells.

A cell is always a ``Text`` built from :func:`~scrubctl.settings.printable.printable` text: rich
never parses data as console markup (``[bold]``, ``[link=...]``, an install hint's ``[s3]``), and no
control character reaches the terminal.
"""

from __future__ import annotations

import json
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


def cell(value: Any) -> Text:
    """One table cell: the value as literal text, control characters escaped; each of several values
    (:class:`~scrubctl.output.views.Lines`) on a line of its own."""
    if isinstance(value, Lines):
        return Text("\n".join(map(printable, value)))
    return Text(printable(plain(value)))
