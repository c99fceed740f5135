"""What the benchmarks share: one timed erase of a set (``scrub_rbd.py``, ``scrub_swift.py``), and
the ``KEY=value`` env files the cluster scripts write (those two, ``scrub_galera.py``, ``scrub_floor.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    """One erase of the whole set: how many pieces, the whole run, and the run after start-up."""

    pieces: int
    seconds: float
    work_seconds: float

    @property
    def rate(self) -> float:
        """Pieces per second, whole run (process start-up included)."""
        return self.pieces / self.seconds

    @property
    def work_rate(self) -> float:
        """Pieces per second once connected (and, for scrubctl, planned)."""
        return self.pieces / self.work_seconds


def env_values(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of an env file written by scripts/ceph-start, rgw-start or galera-start."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
