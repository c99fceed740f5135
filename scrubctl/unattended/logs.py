"""Logging: one function maps verbosity to levels; journald-friendly lines when unattended.

Under systemd (``JOURNAL_STREAM`` set) or without a terminal, every record is one plain line with a
``<N>`` syslog priority prefix that journald understands; no colour.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TextIO

DEFAULT_PROGRESS_INTERVAL = 30.0  # seconds between the log lines of one long erase (scrub --progress-interval)

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


def is_journal(stream: TextIO) -> bool:
    """Whether ``stream`` is connected to the journal: systemd sets ``JOURNAL_STREAM`` to the device
    and inode of that connection (``DEVICE:INODE``), which a redirected stream no longer matches."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError):  # not a file (a test's captured output)
        return False
    return expected == f"{status.st_dev}:{status.st_ino}"


def unattended(stream: TextIO | None = None) -> bool:
    """Whether output goes to the journal or to no terminal (a timer, a pipe, a file)."""
    target = stream or sys.stderr
    return bool(os.environ.get("JOURNAL_STREAM")) or not target.isatty()


class JournalFormatter(logging.Formatter):
    """``<N>message``: a journald priority prefix, then the message on one line."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", " | ")
        priority = JOURNAL_PRIORITIES.get(record.levelno, 6)
        return f"<{priority}>{text}"


class MaskingFilter(logging.Filter):
    """Masks secrets in every record before any handler sees it."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self._mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._mask(record.getMessage())
        record.args = None
        return True


def configure_logging(verbosity: int, mask: Callable[[str], str], stream: TextIO | None = None) -> None:
    """Set up the ``scrubctl`` logger for this process."""
    target = stream or sys.stderr
    handler = logging.StreamHandler(target)
    if unattended(target):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(MaskingFilter(mask))
    logger = logging.getLogger("scrubctl")
    logger.handlers[:] = [handler]
    logger.setLevel(level_for(verbosity))
    logger.propagate = False
