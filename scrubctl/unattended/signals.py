"""Stopping a run cleanly on SIGTERM or SIGINT.

The first signal sets an event: workers take no new image, finish the location in flight, record
what is done, and the run ends with ``128 + signal`` (:data:`~scrubctl.errors.EXIT_SIGTERM`, 143, for
SIGTERM; :data:`~scrubctl.errors.EXIT_SIGINT`, 130, for SIGINT). A second signal acts as usual
(immediate stop).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from scrubctl.errors import EXIT_SIGINT, EXIT_SIGTERM

EXIT_CODES = {signal.SIGTERM: EXIT_SIGTERM, signal.SIGINT: EXIT_SIGINT}  # each 128 + the signal
HANDLED = tuple(EXIT_CODES)


@dataclass
class StopRequest:
    """Set by the first SIGTERM/SIGINT; ``signal_number`` tells which."""

    event: threading.Event = field(default_factory=threading.Event)
    signal_number: int | None = None

    @property
    def exit_code(self) -> int | None:
        """The exit code of the signal that stopped the run (``128 + signal``), else ``None``."""
        if self.signal_number is None:
            return None
        return EXIT_CODES.get(signal.Signals(self.signal_number), 128 + self.signal_number)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install the handlers for the block (main thread only; elsewhere signals are left alone)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {number: signal.getsignal(number) for number in HANDLED}

    def handle(number: int, _frame: FrameType | None) -> None:
        if request.event.is_set():
            signal.signal(number, signal.SIG_DFL)
            signal.raise_signal(number)
            return
        request.signal_number = number
        request.event.set()

    for number in HANDLED:
        signal.signal(number, handle)
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
