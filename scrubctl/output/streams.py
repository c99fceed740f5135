"""One-line diagnostics on stderr, with their journald priority when unattended."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from scrubctl.settings.printable import printable
from scrubctl.unattended.logs import priority_prefix, unattended


def diagnostic(err: Console, kind: str, text: str, level: int, style: str) -> None:
    """``scrubctl: KIND: text`` on ``err``'s stream, always one line (never wrapped at a width), text
    escaped; unattended, with its journald priority (``<3>`` for ``logging.ERROR``) and no colour."""
    line = f"scrubctl: {kind}: {printable(text)}"
    stream = err.file
    if unattended(stream):
        stream.write(f"{priority_prefix(level, stream)}{line}\n")
        stream.flush()
    else:
        err.print(Text(line, style=style), soft_wrap=True)
