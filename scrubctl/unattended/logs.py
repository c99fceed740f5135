"""Logging: one function maps verbosity to levels; journald-friendly lines when unattended.

Under systemd (``JOURNAL_STREAM`` set) or without a terminal, every record is one plain line with a
``<N>`` syslog priority prefix that journald understands; no colour. In a container whose output a
container engine relays to the journal, ``JOURNAL_STREAM`` cannot name the container's streams: the
container units say so with ``SCRUBCTL_JOURNAL=1`` (:data:`RELAYED_JOURNAL_VARIABLE`), which counts
as both streams being the journal. Every message is shown with its
control characters escaped (:func:`scrubctl.settings.printable.printable`): names and URLs in it come
from tenants.

The libraries' own loggers (:data:`LIBRARY_LOGGERS`: SQLAlchemy's pool and engine, PyMySQL, urllib3,
botocore, the Ceph bindings) go through the same formatter: warnings and worse only, each record one
line and at most a warning (the run reports its own failure), its traceback only under ``--debug``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import IO, Any, TextIO

from scrubctl.settings.printable import printable

DEFAULT_PROGRESS_INTERVAL = 30.0  # seconds between the log lines of one long erase (scrub --progress-interval)
LIBRARY_LOGGERS = ("sqlalchemy.pool", "sqlalchemy.engine", "pymysql", "urllib3", "botocore", "rados")

# Set to 1 where stdout and stderr reach the journal through another process (a container engine),
# so that systemd's JOURNAL_STREAM, which names the engine's stream, cannot tell.
RELAYED_JOURNAL_VARIABLE = "SCRUBCTL_JOURNAL"
TRUE_WORDS = ("1", "true", "yes", "on")

JOURNAL_PRIORITIES = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def level_for(verbosity: int) -> int:
    """Map ``-v`` (positive) and ``-q`` (negative) counts to a logging level."""
    return {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}.get(
        max(-2, min(1, verbosity)), logging.INFO
    )


def journal_relayed() -> bool:
    """Whether the environment says stdout and stderr reach the journal through another process
    (``SCRUBCTL_JOURNAL=1``, as the container units run the image)."""
    return os.environ.get(RELAYED_JOURNAL_VARIABLE, "").strip().lower() in TRUE_WORDS


def under_journald() -> bool:
    """Whether scrubctl's diagnostics go to the journal: systemd's ``JOURNAL_STREAM``, or a relayed journal."""
    return bool(os.environ.get("JOURNAL_STREAM")) or journal_relayed()


def is_journal(stream: IO[str]) -> bool:
    """Whether ``stream`` is connected to the journal: systemd sets ``JOURNAL_STREAM`` to the device
    and inode of that connection (``DEVICE:INODE``), which a redirected stream no longer matches; a
    relayed journal (:func:`journal_relayed`) counts for every stream."""
    if journal_relayed():
        return True
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError):  # not a file (a test's captured output)
        return False
    return expected == f"{status.st_dev}:{status.st_ino}"


def unattended(stream: IO[str] | None = None) -> bool:
    """Whether output goes to the journal or to no terminal (a timer, a pipe, a file)."""
    target = stream or sys.stderr
    return under_journald() or not target.isatty()


def priority_prefix(level: int, stream: IO[str] | None = None) -> str:
    """The journald priority prefix (``<3>`` for an error) of a diagnostic line (``scrubctl: error:``,
    ``scrubctl: unreachable:``, ``scrubctl: warning:``) under journald (``JOURNAL_STREAM`` set, or
    ``SCRUBCTL_JOURNAL=1``), else ``""``: in a pipe or a file the line starts ``scrubctl:``, as
    scripts read it."""
    return f"<{JOURNAL_PRIORITIES.get(level, 6)}>" if under_journald() else ""


def discard_stream(stream: IO[str]) -> None:
    """Point a stream whose reader has gone at /dev/null, so that what is left in its buffer, and
    whatever is written to it later, no longer fails (at exit included)."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):  # not a file (tests capture output in memory)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


class EscapingFormatter(logging.Formatter):
    """A formatter that shows the message, and any traceback, with control characters escaped: the
    message stays on one line and no escape sequence in it reaches a terminal or the journal."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _printable_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _printable_lines(super().formatStack(stack_info))


def _printable_lines(text: str) -> str:
    return "\n".join(printable(line) for line in text.split("\n"))


class JournalFormatter(EscapingFormatter):
    """``<N>message``: a journald priority prefix, then the message on one line."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", " | ")
        priority = JOURNAL_PRIORITIES.get(record.levelno, 6)
        return f"<{priority}>{text}"


class _StreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that stops writing once the stream's reader has gone (``2>&1 | head``),
    instead of reporting a logging error for every record after it."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            discard_stream(self.stream)
            return
        super().handleError(record)


class MaskingFilter(logging.Filter):
    """Masks secrets in every record before any handler sees it."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self._mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._mask(record.getMessage())
        record.args = None
        return True


class LibraryFilter(logging.Filter):
    """A library's record as scrubctl shows it: one line, at most a warning, and its traceback only
    when ``debug``."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self._debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        if not self._debug:
            record.msg = " ".join(record.getMessage().split())
            record.args = None
            record.exc_info = record.exc_text = record.stack_info = None
        return True


def configure_logging(
    verbosity: int, mask: Callable[[str], str], stream: TextIO | None = None, *, debug: bool = False
) -> None:
    """Set up the ``scrubctl`` logger and the libraries' (:data:`LIBRARY_LOGGERS`) for this process."""
    target = stream or sys.stderr
    handler = _StreamHandler(target)
    if unattended(target):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(EscapingFormatter("%(levelname)s: %(message)s"))
    handler.addFilter(MaskingFilter(mask))
    logger = logging.getLogger("scrubctl")
    logger.handlers[:] = [handler]
    logger.setLevel(level_for(verbosity))
    logger.propagate = False
    libraries = logging.StreamHandler(target)
    libraries.setFormatter(handler.formatter)  # scrubctl's own, whatever it is
    libraries.addFilter(LibraryFilter(debug))
    libraries.addFilter(MaskingFilter(mask))
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers[:] = [libraries]
        library.setLevel(logging.WARNING)
        library.propagate = False
