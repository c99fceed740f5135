"""Prometheus metrics for node_exporter's textfile collector: the sample text and the file.

A metrics file is written to a temporary name in the same directory and renamed over the old one, so
the collector never reads half a file. What each engine measures, it renders itself
(``engine/metrics.py`` for a scrub, ``orphans/metrics.py`` for a reclaim) with the helpers here.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scrubctl.errors import ConfigError, read_only_message


def number(value: float) -> str:
    """Prometheus sample text: integral values without exponent, others in full precision."""
    return str(int(value)) if value == int(value) else repr(value)


def metric_lines(name: str, kind: str, help_text: str, samples: Sequence[tuple[str, float]]) -> list[str]:
    """One metric's ``# HELP`` and ``# TYPE`` lines and its samples (``labels``, value); nothing at all
    when there is no sample."""
    if not samples:
        return []
    return [
        f"# HELP {name} {help_text}",
        f"# TYPE {name} {kind}",
        *(f"{name}{labels} {number(value)}" for labels, value in samples),
    ]


def previous_sample(path: Path, name: str) -> float | None:
    """The unlabelled sample of metric ``name`` in an earlier metrics file at ``path``, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def check_writable(path: Path) -> None:
    """Raise :class:`ConfigError` unless a metrics file can be written at ``path`` (checked before a
    run changes anything: a temporary file is made in its directory and removed)."""
    if not path.parent.is_dir():
        raise ConfigError(f"metrics file {path} cannot be written: directory {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"metrics file {path} cannot be written: it is a directory")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        if error.errno == errno.EROFS:
            raise ConfigError(read_only_message(f"the directory of the metrics file {path}")) from None
        raise ConfigError(f"metrics file {path} cannot be written: {error.strerror}") from None
    os.close(descriptor)
    os.unlink(temporary)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def publish(path: Path, text: str) -> None:
    """Write a metrics file (atomically); raise :class:`ConfigError` naming ``path`` when it cannot be
    written."""
    try:
        write_atomically(path, text)
    except OSError as error:
        if error.errno == errno.EROFS:
            raise ConfigError(read_only_message(f"the directory of the metrics file {path}")) from None
        raise ConfigError(f"metrics file {path} not written: {error.strerror or error}") from None
