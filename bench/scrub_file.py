"""Benchmark: ``scrubctl scrub`` on the file store with MariaDB, against the real glance-scrubber.

Creates N due pending_delete images (real 4 KiB files, rows exactly as Glance 33.0.0 writes them) in
a dedicated MariaDB database, scrubs them with scrubctl at several concurrencies, and, where Glance
33.0.0 can be installed from PyPI into a separate virtualenv, runs the real ``glance-scrubber`` on an
identical set in the same run. Prints images/s, peak RSS and the ratio to Glance. Never fails on
timing; exits non-zero only when a tool left work undone.

    .venv/bin/python bench/scrub_file.py [--images 2000] [--concurrency 1 4 8] [--no-glance]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from list_pending import timed as timed_alone

from tests.support import glance_reference as reference

SERVER_URL = os.environ.get("SCRUBCTL_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
DATABASE = "scrubctl_bench_scrub"
SCRUBCTL = Path(sys.executable).with_name("scrubctl")


@dataclass(frozen=True)
class Measurement:
    """One tool's run over the whole set."""

    tool: str
    images: int
    seconds: float
    work_seconds: float
    max_rss_mb: float

    @property
    def rate(self) -> float:
        """Images per second over the whole process (start-up included)."""
        return self.images / self.seconds

    @property
    def work_rate(self) -> float:
        """Images per second once started (planning and erasing only)."""
        return self.images / self.work_seconds


def fresh_set(count: int, datadir: Path) -> tuple[str, list[str]]:
    """Recreate the database and ``count`` pending images with real files in ``datadir``."""
    if datadir.exists():
        shutil.rmtree(datadir)
    datadir.mkdir(parents=True)
    url = reference.create_database(SERVER_URL, DATABASE)
    return url, reference.seed_pending_delete_images(url, datadir, count)


def run_scrubctl(url: str, datadir: Path, workdir: Path, concurrency: int, count: int) -> Measurement:
    """Run ``scrubctl scrub --yes -f json`` once and measure it."""
    config = workdir / "glance-api.conf"
    config.write_text(
        f"[DEFAULT]\nscrub_time = 0\n[database]\nconnection = {url}\n"
        f"[glance_store]\nstores = file\ndefault_store = file\nfilesystem_store_datadir = {datadir}\n"
    )
    output = workdir / f"scrub-{concurrency}.json"
    command = [str(SCRUBCTL), "--config-file", str(config), "-q", "scrub", "--yes", "-f", "json"]
    command += ["--concurrency", str(concurrency)]
    errors = output.with_suffix(".err")
    run = timed_alone(command, output, errors)  # its own peak RSS, not this process's (see list_pending)
    if run.returncode != 0:
        raise SystemExit(f"scrubctl failed: {errors.read_text().strip()[-2000:]}")
    summary = json.loads(output.read_text())["summary"]
    if summary["scrubbed"] != count:
        raise SystemExit(f"scrubctl scrubbed {summary['scrubbed']} of {count}")
    return Measurement(
        f"scrubctl --concurrency {concurrency}", count, run.seconds, summary["duration_seconds"], run.max_rss_kib / 1024
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--no-glance", action="store_true", help="skip the real glance-scrubber baseline")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="scrubctl-bench-"))
    datadir = workdir / "images"
    measurements: list[Measurement] = []
    glance: Measurement | None = None
    try:
        if not args.no_glance:
            install = reference.ensure_glance(reference.default_venv_dir())
            if install is not None:
                url, ids = fresh_set(args.images, datadir)
                run = reference.run_glance_scrubber_detailed(install, db_url=url, datadir=datadir, workdir=workdir)
                problems = reference.verify_scrubbed(url, datadir, ids)
                if problems:
                    raise SystemExit(f"glance-scrubber left work undone: {problems}")
                glance = Measurement(
                    f"glance-scrubber {reference.GLANCE_VERSION}",
                    args.images,
                    run.seconds,
                    run.scrub_seconds,
                    run.max_rss_kib / 1024,
                )
        for concurrency in args.concurrency:
            url, ids = fresh_set(args.images, datadir)
            measurements.append(run_scrubctl(url, datadir, workdir, concurrency, args.images))
            problems = reference.verify_scrubbed(url, datadir, ids)
            if problems:
                raise SystemExit(f"scrubctl left work undone: {problems}")
    finally:
        reference.drop_database(SERVER_URL, DATABASE)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{args.images} due images, 4 KiB files, MariaDB, {os.cpu_count()} cores, Python {platform.python_version()}")
    print()
    print("| tool | images/s (whole run) | images/s (after start-up) | peak RSS | ratio to Glance |")
    print("|---|---|---|---|---|")
    rows = ([glance] if glance else []) + measurements
    for item in rows:
        ratio = f"{item.rate / glance.rate:.1f}x" if glance else "n/a (Glance not installed)"
        print(f"| {item.tool} | {item.rate:.0f} | {item.work_rate:.0f} | {item.max_rss_mb:.0f} MB | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
