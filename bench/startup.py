"""Benchmark: how long scrubctl takes to start, as a ratio to ``python -c pass`` in the same venv.

Times, round-robin so that a change in the machine's load touches every command alike:

* ``python -c pass`` (the baseline every ratio divides by);
* ``scrubctl --version``, ``scrubctl --help`` and a Tab completion (what bash asks when the operator
  types ``scrubctl li<Tab>``), which import neither SQLAlchemy nor rich (target: at most 3x);
* ``scrubctl list-pending`` on a fresh sandbox (``scrubctl sandbox``), a real listing (target: at
  most 8x);
* ``python -c "import sqlalchemy"``, for reference: the floor of any command that reads the database.

Prints the median of N runs of each and its ratio, as a markdown table for docs/benchmarks.md. Exits 0
whatever the timings; non-zero only when a command fails.

    .venv/bin/python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SCRUBCTL = Path(sys.executable).with_name("scrubctl")
COMPLETE_VAR = "_SCRUBCTL_COMPLETE"  # scrubctl.commands.completion.COMPLETE_VAR


@dataclass
class Case:
    """One command line, its target ratio (None: for reference only) and its timings."""

    label: str
    command: list[str]
    target: float | None = None
    environment: dict[str, str] | None = None
    seconds: list[float] = field(default_factory=list)

    def run_once(self) -> None:
        """Run the command once, output to /dev/null, and record its wall time."""
        started = time.perf_counter()
        finished = subprocess.run(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.environment, check=False
        )
        self.seconds.append(time.perf_counter() - started)
        if finished.returncode != 0:
            raise SystemExit(f"{self.label} failed ({finished.returncode}): {finished.stderr.decode()[-2000:]}")

    @property
    def median(self) -> float:
        """The median wall time, in seconds."""
        return statistics.median(self.seconds)


def cases(config_file: Path) -> list[Case]:
    """The command lines timed, the baseline first."""
    completion = dict(os.environ, **{COMPLETE_VAR: "bash_complete", "COMP_WORDS": "scrubctl li", "COMP_CWORD": "1"})
    return [
        Case("python -c pass", [sys.executable, "-c", "pass"]),
        Case("scrubctl --version", [str(SCRUBCTL), "--version"], target=3),
        Case("scrubctl --help", [str(SCRUBCTL), "--help"], target=3),
        Case("completion (scrubctl li<Tab>)", [str(SCRUBCTL)], target=3, environment=completion),
        Case("scrubctl list-pending (sandbox)", [str(SCRUBCTL), "--config-file", str(config_file), "list-pending"], 8),
        Case('python -c "import sqlalchemy"', [sys.executable, "-c", "import sqlalchemy"]),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="scrubctl-bench-startup-"))
    try:
        sandbox = workdir / "sandbox"
        subprocess.run([str(SCRUBCTL), "sandbox", str(sandbox)], stdout=subprocess.DEVNULL, check=True)
        timed = cases(sandbox / "glance-api.conf")
        for case in timed:  # one untimed round: files in the page cache, bytecode written
            case.run_once()
            case.seconds.clear()
        for _ in range(args.runs):
            for case in timed:
                case.run_once()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    baseline = timed[0].median
    print(f"median of {args.runs} runs, {os.cpu_count()} cores, Python {platform.python_version()}")
    print()
    print("| command | median | ratio to `python -c pass` | target |")
    print("|---|---|---|---|")
    for case in timed:
        ratio = case.median / baseline
        target = "baseline" if case is timed[0] else "reference" if case.target is None else f"at most {case.target}x"
        print(f"| {case.label} | {case.median * 1000:.0f} ms | {ratio:.1f}x | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
