"""What a run that met an unreachable database may print on stderr: one line that says so, each
item's own result, and no traceback."""

from __future__ import annotations

import re

# Besides the one line: log lines below warning, and each item's own result.
ITEM_LINE = re.compile(r"<[67]>|<[34]>image ")  # a failed image is an error, a blocked one a warning


def assert_one_line(stderr: str, *expected: str) -> None:
    """stderr says what happened in one line holding each of ``expected`` (besides each item's own
    result), without a traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if not ITEM_LINE.match(line)]
    assert len(lines) == 1, stderr[-3000:]
    assert all(part in lines[0] for part in expected), lines
