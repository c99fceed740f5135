"""Stopping a run cleanly on SIGTERM or SIGINT.

The first signal sets an event: workers take no new image, finish the location in flight, record
what is done, and the run ends with ``128 + signal`` (143 for SIGTERM, 130 for SIGINT). A second
signal acts as usual (immediate stop).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGINT)


@dataclass
class StopRequest:
    """Set by the first SIGTERM/SIGINT; ``signal_number`` tells which."""

    event: threading.Event = field(default_factory=threading.Event)
    signal_number: int | None = None

    @property
    def exit_code(self) -> int | None:
        """``128 + signal`` when a signal stopped the run, else ``None``."""
        return None if self.signal_number is None else 128 + self.signal_number


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
