"""Benchmark: ``scrubctl scrub`` against the bare minimum any scrubber must do, on the same data.

The floor is a bare Python loop with PyMySQL: one SELECT of the pending locations of pending images,
unlink each file, and per 500 images one guarded UPDATE of the locations, one of the images and a
COMMIT. It has no claims, no re-read, no shared-data check, no audit, no per-image results: it shows
what the work itself costs. The protocol loop is the same bare loop with the statements scrubctl's
safety rules need (the claims, the queue check and the re-read inside the claim, the guarded
updates, in scrubctl's batches; see ``PROTOCOL_LOOP``); the minimal protocol loop keeps only the
claims, the re-read and the guarded updates: the least any scrubber that keeps those rules can
cost. N due images (real 4 KiB files, rows as Glance 33.0.0 writes them) are created afresh for
each side; the three alternate over several rounds, start-up included, and every run is checked
(every row deleted, no file left). Prints medians, the ratios, scrubctl's peak RSS and what
importing SQLAlchemy costs.

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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from erase_runs import env_values
from list_pending import timed as timed_alone

from scrubctl.engine.batches import LOCAL_BATCH
from tests.support import glance_reference as reference

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


# The same work with the statements scrubctl's safety rules need, as a bare PyMySQL loop: the plan's
# columns (images left-joined to their pending locations, in id order), then per batch of scrubctl's
# size the queue check, the claim check and the claims' multi-row INSERT, the re-read inside the
# claim and a COMMIT; unlink each file; the guarded UPDATEs, the claims' DELETE and a COMMIT. No
# SQLAlchemy, no shared-data check, no per-image results, no report: what those rules cost by
# themselves. "minimal" leaves out the queue check and the claim check as well (a run alone on its
# database, with no claim left by an earlier one, needs neither), keeping only what a claim, the
# re-read inside it and the guarded updates cannot do without: below that no scrubber that keeps
# those rules can go.
PROTOCOL_LOOP = r"""
import datetime, os, sys
from urllib.parse import urlsplit
import pymysql
host, port, user, database, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
checks = sys.argv[6] != "minimal"
connection = pymysql.connect(host=host, port=port, user=user, database=database, autocommit=False)
cursor = connection.cursor()
cursor.execute(
    "CREATE TABLE IF NOT EXISTS scrubctl_claims (subject VARCHAR(64) NOT NULL PRIMARY KEY, "
    "holder VARCHAR(128) NOT NULL, purpose VARCHAR(16) NOT NULL, claimed_at DATETIME NOT NULL, "
    "expires_at DATETIME NOT NULL)")
connection.commit()
cursor.execute(
    "SELECT i.id, i.name, i.owner, i.size, i.status, i.visibility, COALESCE(i.deleted_at, i.updated_at), "
    "l.id, l.value, l.meta_data, l.status, l.deleted_at FROM images i LEFT JOIN image_locations l "
    "ON l.image_id = i.id AND l.status = 'pending_delete' "
    "WHERE i.deleted = 1 AND i.status = 'pending_delete' ORDER BY i.id")
rows = cursor.fetchall()
connection.commit()
holder = "bench:%d" % os.getpid()
now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
claim = "(%s, %s, 'scrub', UTC_TIMESTAMP(6), DATE_ADD(UTC_TIMESTAMP(6), INTERVAL 300 SECOND))"
for start in range(0, len(rows), batch):
    chunk = rows[start:start + batch]
    ids = [row[0] for row in chunk]
    marks = ", ".join(["%s"] * len(ids))
    if checks:
        cursor.execute(f"SELECT id, status FROM images WHERE id IN ({marks})", ids)
        cursor.fetchall()
        cursor.execute(
            f"SELECT subject, holder, expires_at < UTC_TIMESTAMP(6) FROM scrubctl_claims WHERE subject IN ({marks})",
            ids)
        cursor.fetchall()
    cursor.execute(
        "INSERT INTO scrubctl_claims (subject, holder, purpose, claimed_at, expires_at) VALUES "
        + ", ".join([claim] * len(ids)), [value for image_id in ids for value in (image_id, holder)])
    cursor.execute(
        "SELECT i.id, i.status, l.id, l.status, l.deleted FROM images i LEFT JOIN image_locations l "
        f"ON l.image_id = i.id WHERE i.id IN ({marks})", ids)
    cursor.fetchall()
    connection.commit()
    for row in chunk:
        try:
            os.unlink(urlsplit(row[8]).path)
        except FileNotFoundError:
            pass
    locations = [row[7] for row in chunk]
    cursor.execute(
        "UPDATE image_locations SET status = 'deleted', deleted = 1, deleted_at = %s, updated_at = %s "
        f"WHERE id IN ({', '.join(['%s'] * len(locations))}) AND status = 'pending_delete'", [now, now, *locations])
    cursor.execute(
        f"UPDATE images SET status = 'deleted', deleted = 1, updated_at = %s WHERE id IN ({marks}) "
        "AND status = 'pending_delete'", [now, *ids])
    cursor.execute(f"DELETE FROM scrubctl_claims WHERE holder = %s AND subject IN ({marks})", [holder, *ids])
    connection.commit()
connection.close()
print(len(rows))
"""


@dataclass(frozen=True)
class Run:
    """One side's run over the whole set."""

    seconds: float
    max_rss_mb: float


def timed(command: list[str], output: Path) -> Run:
    """Run ``command``, its stdout into ``output``; wall time and its own peak RSS (through the list-pending
    benchmark's launcher: a child forked straight from this process would report this process's
    peak instead of its own); fail on a non-zero exit."""
    errors = output.with_suffix(".err")
    run = timed_alone(command, output, errors)
    if run.returncode != 0:
        raise SystemExit(f"{command[1]} failed: {errors.read_text().strip()[-2000:]}")
    return Run(run.seconds, run.max_rss_kib / 1024)


def fresh(server: str, database: str, datadir: Path, count: int) -> tuple[str, list[str]]:
    if datadir.exists():
        shutil.rmtree(datadir)
    datadir.mkdir(parents=True)
    url = reference.create_database(server, database)
    return url, reference.seed_pending_delete_images(url, datadir, count)


def run_floor(server: str, workdir: Path, count: int) -> Run:
    """The bare loop on fresh data."""
    return run_loop(server, workdir, count, "bare loop", BARE_LOOP)


def run_protocol(server: str, workdir: Path, count: int, variant: str = "full") -> Run:
    """The claim protocol's statements (:data:`PROTOCOL_LOOP`, ``full`` or ``minimal``) on fresh
    data, in scrubctl's batches (of files)."""
    return run_loop(server, workdir, count, f"{variant} protocol loop", PROTOCOL_LOOP, str(LOCAL_BATCH), variant)


def run_loop(server: str, workdir: Path, count: int, who: str, script: str, *extra: str) -> Run:
    """Run a bare loop's ``script`` (``-c`` text, ``extra`` its last arguments) on fresh data; check
    it did everything."""
    datadir = workdir / "floor-images"
    url, ids = fresh(server, "scrubctl_bench_floor", datadir, count)
    address = url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = address.partition(":")
    user = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0]
    time.sleep(0.5)
    run = timed(
        [sys.executable, "-c", script, host, port or "3306", user, "scrubctl_bench_floor", *extra],
        workdir / "floor.out",
    )
    check(url, datadir, ids, who)
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


def sqlalchemy_import_seconds(times: int = 5) -> float:
    """Median wall time of ``import sqlalchemy`` in a fresh interpreter, beyond ``import pymysql``."""

    def median_of(code: str) -> float:
        runs = []
        for _time in range(times):
            started = time.monotonic()
            subprocess.run([sys.executable, "-c", code], check=True)
            runs.append(time.monotonic() - started)
        return statistics.median(runs)

    return median_of("import pymysql, sqlalchemy") - median_of("import pymysql")


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
                minimal: list[Run] = []
                protocols: list[Run] = []
                ours: list[Run] = []
                for _round in range(args.rounds):
                    floors.append(run_floor(server, workdir, count))
                    minimal.append(run_protocol(server, workdir, count, "minimal"))
                    protocols.append(run_protocol(server, workdir, count))
                    ours.append(run_scrubctl(server, workdir, count))
                rss = max(run.max_rss_mb for run in ours)
                sides = (floors, minimal, protocols, ours)
                medians = [statistics.median(run.seconds for run in runs) for runs in sides]
                rows.append((label, count, *medians, rss))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"4 KiB files, {os.cpu_count()} cores, Python {platform.python_version()}, median of {args.rounds} rounds")
    print()
    print(f"SQLAlchemy's import, which scrubctl cannot do without: {sqlalchemy_import_seconds():.2f} s")
    print()
    print(
        "| server | images | bare loop | minimal protocol loop (ratio) | protocol loop (ratio) | scrubctl "
        "| ratio to the bare loop | ratio to the protocol loop | scrubctl peak RSS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, count, floor, least, protocol, mine, rss in rows:
        print(
            f"| {label} | {count} | {floor:.2f} s | {least:.2f} s ({least / floor:.1f}x) "
            f"| {protocol:.2f} s ({protocol / floor:.1f}x) | {mine:.2f} s | {mine / floor:.1f}x "
            f"| {mine / protocol:.1f}x | {rss:.0f} MB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
