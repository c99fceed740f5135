"""A yes/no question on the terminal that a Ctrl-C always interrupts.

``input()`` blocks in ``read()``. Python runs its SIGINT handler (which raises ``KeyboardInterrupt``)
only between bytecodes, so a Ctrl-C typed after the question is shown but before ``read()`` starts
is noted and then waits for the read to return: the question seems to ignore it. Waiting for the
answer with ``select`` in short slices gives Python a chance to act on the signal after each slice.
"""

from __future__ import annotations

import select
import sys
from typing import TextIO

from rich.console import Console
from rich.prompt import Confirm
from rich.text import TextType

WAIT_SLICE_SECONDS = 0.2  # the longest a Ctrl-C that raced the question waits to be acted on


def read_answer(stream: TextIO) -> str:
    """One line typed at the terminal ``stream``; :class:`EOFError` at its end (Ctrl-D), as ``input()``."""
    while not select.select([stream], [], [], WAIT_SLICE_SECONDS)[0]:
        continue  # Python runs a pending signal's handler here
    line = stream.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


class TerminalConfirm(Confirm):
    """rich's yes/no question, reading its answer with :func:`read_answer` from stdin."""

    @classmethod
    def get_input(cls, console: Console, prompt: TextType, password: bool, stream: TextIO | None = None) -> str:
        """Show the question, then wait for the answer on ``stream`` (default: stdin)."""
        console.print(prompt, end="")
        return read_answer(stream or sys.stdin)
