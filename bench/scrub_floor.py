"""Benchmark: ``scrubctl scrub`` against the bare minimum any scrubber must do, on the same data.

The floor is a bare Python loop with PyMySQL: one SELECT of the pending locations of pending images,
unlink each file, and per 500 images one guarded UPDATE of the locations, one of the images and a
COMMIT. It has no claims, no re-read, no shared-data check, no audit, no per-image results: it shows
what the work itself costs. N due images (real 4 KiB files, rows as Glance 33.0.0 writes them) are
created twice, once for each side; the two alternate over several rounds, start-up included, and
every run is checked (every row deleted, no file left). Prints medians, the ratio and peak RSS.

    .venv/bin/python bench/scrub_floor.py [--images 10000 2000] [--rounds 3] [--galera-env .run/galera/env]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import glance_reference as reference
from erase_runs import env_values

ROOT = Path(__file__).resolve().parent.parent
SINGLE_SERVER_URL = os.environ.get("SCRUBCTL_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
SCRUBCTL = Path(sys.executable).with_name("scrubctl")
CHUNK = 500

BARE_LOOP = r"""
import datetime, os, sys
from urllib.parse import urlsplit
import pymysql
host, port, user, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
connection = pymysql.connect(host=host, port=port, user=user, database=database, autocommit=False)
cursor = connection.cursor()
cursor.execute(
    "SELECT l.id, l.image_id, l.value FROM image_locations l JOIN images i ON i.id = l.image_id "
    "WHERE i.deleted = 1 AND i.status = 'pending_delete' AND l.deleted = 1 AND l.status = 'pending_delete'"
)
rows = cursor.fetchall()
now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
for start in range(0, len(rows), CHUNK):
    chunk = rows[start:start + CHUNK]
    for _id, _image, url in chunk:
        try:
            os.unlink(urlsplit(url).path)
        except FileNotFoundError:
            pass
    locations = [row[0] for row in chunk]
    image_ids = sorted({row[1] for row in chunk})
    marks = ", ".join(["%s"] * len(locations))
    cursor.execute(
        f"UPDATE image_locations SET status = 'deleted', deleted_at = %s, updated_at = %s "
        f"WHERE id IN ({marks}) AND status = 'pending_delete'", [now, now, *locations])
    marks = ", ".join(["%s"] * len(image_ids))
    cursor.execute(
        f"UPDATE images SET status = 'deleted', updated_at = %s WHERE id IN ({marks}) "
        f"AND status = 'pending_delete'", [now, *image_ids])
    connection.commit()
connection.close()
print(len(rows))
""".replace("CHUNK", str(CHUNK))


@dataclass(frozen=True)
class Run:
    """One side's run over the whole set."""

    seconds: float
    max_rss_mb: float


def timed(command: list[str], output: Path) -> Run:
    """Run ``command``, its stdout into ``output``; wall time and peak RSS; fail on a non-zero exit."""
    started = time.monotonic()
    with output.open("w") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        stderr = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{command[1]} failed: {stderr.strip()[-2000:]}")
    return Run(seconds, usage.ru_maxrss / 1024)


def fresh(server: str, database: str, datadir: Path, count: int) -> tuple[str, list[str]]:
    if datadir.exists():
        shutil.rmtree(datadir)
    datadir.mkdir(parents=True)
    url = reference.create_database(server, database)
    return url, reference.seed_pending_delete_images(url, datadir, count)


def run_floor(server: str, workdir: Path, count: int) -> Run:
    datadir = workdir / "floor-images"
    url, ids = fresh(server, "scrubctl_bench_floor", datadir, count)
    address = url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = address.partition(":")
    user = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0]
    time.sleep(0.5)
    run = timed(
        [sys.executable, "-c", BARE_LOOP, host, port or "3306", user, "scrubctl_bench_floor"], workdir / "floor.out"
    )
    check(url, datadir, ids, "bare loop")
    reference.drop_database(server, "scrubctl_bench_floor")
    return run


def run_scrubctl(server: str, workdir: Path, count: int) -> Run:
    datadir = workdir / "scrubctl-images"
    url, ids = fresh(server, "scrubctl_bench_scrubctl", datadir, count)
    config = workdir / "glance-api.conf"
    config.write_text(
        f"[DEFAULT]\nscrub_time = 0\n[database]\nconnection = {url}\n"
        f"[glance_store]\nstores = file\ndefault_store = file\nfilesystem_store_datadir = {datadir}\n"
    )
    time.sleep(0.5)
    output = workdir / "scrubctl.json"
    run = timed([str(SCRUBCTL), "--config-file", str(config), "-q", "scrub", "--yes", "-f", "json"], output)
    summary = json.loads(output.read_text())["summary"]
    if summary["scrubbed"] != count:
        raise SystemExit(f"scrubctl scrubbed {summary['scrubbed']} of {count}")
    check(url, datadir, ids, "scrubctl")
    reference.drop_database(server, "scrubctl_bench_scrubctl")
    return run


def check(url: str, datadir: Path, ids: list[str], who: str) -> None:
    problems = reference.verify_scrubbed(url, datadir, ids)
    if problems:
        raise SystemExit(f"{who} left work undone: {problems[:5]}")


def main(argv: list[str] | None = None) -> int:
    """Measure every size on every server and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, nargs="+", default=[10000, 2000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--galera-env", type=Path, default=ROOT / ".run" / "galera" / "env")
    parser.add_argument("--no-galera", action="store_true")
    args = parser.parse_args(argv)
    servers = [("single MariaDB", SINGLE_SERVER_URL)]
    if not args.no_galera and args.galera_env.exists():
        servers.append(("Galera node 1", env_values(args.galera_env)["GALERA_NODE1_URL"]))
    workdir = Path(tempfile.mkdtemp(prefix="scrubctl-bench-floor-"))
    rows = []
    try:
        for label, server in servers:
            for count in args.images:
                floors: list[Run] = []
                ours: list[Run] = []
                for _round in range(args.rounds):
                    floors.append(run_floor(server, workdir, count))
                    ours.append(run_scrubctl(server, workdir, count))
                floor = statistics.median(run.seconds for run in floors)
                mine = statistics.median(run.seconds for run in ours)
                rss = max(run.max_rss_mb for run in ours)
                rows.append((label, count, floor, mine, mine / floor, rss))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"4 KiB files, {os.cpu_count()} cores, Python {platform.python_version()}, median of {args.rounds} rounds")
    print()
    print("| server | images | bare loop | scrubctl | ratio | scrubctl peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, count, floor, mine, ratio, rss in rows:
        print(f"| {label} | {count} | {floor:.2f} s | {mine:.2f} s | {ratio:.1f}x | {rss:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
