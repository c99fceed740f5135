"""Writing to stderr and stdout when nobody may be reading: one-line diagnostics with their journald
priority, and reports whose reader has gone (``2>&1 | head -3``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.text import Text

from scrubctl.settings.printable import printable
from scrubctl.unattended.logs import discard_stream, priority_prefix, unattended


@contextmanager
def dropped_when_gone(out: Console, err: Console) -> Iterator[None]:
    """Run the block; when the reader of ``out``'s or ``err``'s stream has gone, drop the rest of
    what it writes (and everything after it on that stream) instead of failing."""
    try:
        yield
    except BrokenPipeError:
        closed = [console for console in (out, err) if console.quiet]  # a console found its reader gone
        for console in closed or [out]:  # none: a plain write to stdout failed
            console.quiet = True
            discard_stream(console.file)


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
