"""The yes/no question's answer: read as a line, Ctrl-D is end of input, and a Ctrl-C always interrupts."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import pytest

from scrubctl.output.question import read_answer


@contextmanager
def terminal_pipe() -> Iterator[tuple[TextIO, TextIO]]:
    """A pipe standing for the terminal: what is written to the second stream is typed."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader, os.fdopen(write_end, "w") as writer:
        yield reader, writer


def test_the_answer_is_the_line_typed() -> None:
    with terminal_pipe() as (reader, writer):
        writer.write("y\n")
        writer.flush()
        assert read_answer(reader) == "y"


def test_end_of_input_is_eof_error_as_with_input() -> None:
    with terminal_pipe() as (reader, writer):
        writer.close()
        with pytest.raises(EOFError):
            read_answer(reader)


def test_a_ctrl_c_noted_while_the_answer_is_awaited_interrupts_the_wait() -> None:
    """The race a person can hit: Python's C-level handler has noted SIGINT, but the thread waiting
    for the answer is not woken by it. Here SIGINT is blocked in this thread and taken by another
    one. A plain blocking read would wait until a line is typed (after 30 s here)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    asked, answered, typed = threading.Event(), threading.Event(), threading.Event()
    with terminal_pipe() as (reader, writer):

        def person() -> None:
            asked.wait()
            time.sleep(0.5)  # the question is waiting by now (if not, the interrupt comes sooner)
            os.kill(os.getpid(), signal.SIGINT)
            if not answered.wait(30):
                writer.write("n\n")
                writer.flush()
                typed.set()

        sender = threading.Thread(target=person)
        sender.start()  # before the mask below: this thread keeps SIGINT unblocked and takes it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with pytest.raises(KeyboardInterrupt):
                asked.set()
                read_answer(reader)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            signal.signal(signal.SIGINT, previous)
            answered.set()
            sender.join()
    assert not typed.is_set(), "the Ctrl-C was acted on only when a line came"
