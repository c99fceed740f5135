"""Values written into systemd units: checked so that none adds a line or a setting, and quoted.

A unit file is line-based: a value holding a newline (or any other control character) would end
its setting and start another, so such a value is refused, never escaped. ``%`` starts a specifier
in every setting written here and is doubled; ``$`` starts a variable in the arguments of
``ExecStart=`` and is doubled there; a path holding blanks, quotes or backslashes is written in double quotes with
C escapes, as systemd reads them. ``OnCalendar=`` and ``TimeoutStartSec=`` are checked with
``systemd-analyze`` when it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from scrubctl.errors import BadInputError

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NEEDS_QUOTES = re.compile(r"""[\s"'\\;]""")
ANALYZE_TIMEOUT = 10  # seconds for one systemd-analyze call
# TimeoutStartSec= of the service: long enough for a large RBD backlog (removing an image takes seconds
# to minutes); a run that hangs for any reason is then stopped with SIGTERM (it finishes the images in
# flight, exits 143).
DEFAULT_TIMEOUT_START = "6h"
# The container engines ``systemd-units --container`` writes units for, and where each lives.
CONTAINER_ENGINES = {"podman": "/usr/bin/podman", "docker": "/usr/bin/docker"}


def plain(value: str, what: str) -> str:
    """``value`` as a setting's text (``%`` doubled); refused when it holds a control character."""
    if CONTROL.search(value):
        raise BadInputError(f"{what} {value!r} holds a newline or another control character")
    return value.replace("%", "%%")


def name(value: str, what: str) -> str:
    """A user or group name: not empty, no blanks, no control characters."""
    if not value or CONTROL.search(value) or any(character.isspace() for character in value):
        raise BadInputError(f"{what} {value!r} must be a name without blanks, newlines or control characters")
    return plain(value, what)


def path(value: Path, what: str, *, command: bool = False) -> str:
    """A path as one word of a setting (``command``: an argument in ``ExecStart=``, where ``$`` is special)."""
    text = plain(str(value), what)
    if command:
        text = text.replace("$", "$$")
    if NEEDS_QUOTES.search(text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def calendar(value: str) -> str:
    """An ``OnCalendar=`` expression, checked by ``systemd-analyze calendar`` when installed."""
    text = plain(value.strip(), "--on-calendar")
    if not text:
        raise BadInputError("--on-calendar must not be empty")
    _analyze("calendar", value.strip(), "--on-calendar")
    return text


def timespan(value: str, what: str) -> str:
    """A time span (``6h``, ``30min``, ``infinity``), checked by ``systemd-analyze timespan`` when installed."""
    text = plain(value.strip(), what)
    if not text:
        raise BadInputError(f"{what} must not be empty")
    _analyze("timespan", value.strip(), what)
    return text


def _analyze(verb: str, value: str, what: str) -> None:
    """Ask ``systemd-analyze VERB VALUE`` whether systemd accepts ``value``; nothing when it is not installed."""
    program = shutil.which("systemd-analyze")
    if program is None:
        return
    try:
        done = subprocess.run(
            [program, verb, "--", value], capture_output=True, text=True, timeout=ANALYZE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"systemd-analyze {verb} refused it"
        raise BadInputError(f"{what} {value!r} is not valid for systemd: {reason}")
