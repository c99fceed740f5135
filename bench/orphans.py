"""Benchmark ``scrubctl orphans -f json`` against the bare listing it cannot do without.

Uses the list-pending benchmark's data (``bench/list_pending.py``: 1,000,000 images with the real Glance
schema in MariaDB, 1.05 M location rows) in a database of its own, whose file locations are pointed at a
data directory in the work directory, and fills that directory with 100,000 files: 99,000 named by
location rows that need them, and 1,000 orphans (random image ids, no row), all dated 30 days back. Then
times, alternately:

* ``scrubctl --db-url ... orphans -f json`` (stdout to a file), with its peak RSS;
* the baseline: ``SELECT value FROM image_locations`` through ``mariadb --batch --quick`` plus
  ``ls -f`` of the data directory, in one shell command.

Checks that scrubctl lists exactly the 1,000 orphans, reclaimable. Prints a markdown table for
docs/benchmarks.md. Exits non-zero only when an output is wrong or a command fails.

Usage::

    .venv/bin/python bench/orphans.py [--images 1000000] [--files 100000] [--orphans 1000] [--runs 3]
                                      [--reuse] [--database scrubctl_bench_orphans]

With ``--swift RGW_ENV`` (the test gateway's ``rgw.env``) it measures a Swift store and an image cache
instead (:mod:`bench.orphans_swift`): a container of ``--objects`` objects (100,000; and one of a fifth
of that, for peak RSS as the container grows), 1 % of them orphans, rows in a SQLite database for the
rest, timed against a bare listing of the same container (``bench/swift_bare_listing.py``) in the same
run; and a cache directory of ``--cache-files`` files (10,000) against ``ls -f``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.list_pending import PORT, VENV_BIN, Run, Server, already_filled, cpu_model, load, server_facts, timed

DEFAULT_DATABASE = "scrubctl_bench_orphans"
WORKDIR = Path("/tmp/scrubctl-bench-orphans")
OLD_PREFIX = "file:///var/lib/glance/images/"
PENDING = 100_000


def point_locations(server: Server, database: str, datadir: Path) -> None:
    """Point the generated file locations at ``datadir`` (once)."""
    connection = server.connect(database, autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM image_locations WHERE value LIKE %s", (OLD_PREFIX + "%",))
            (count,) = cursor.fetchone()
            if count:
                started = time.perf_counter()
                cursor.execute(
                    "UPDATE image_locations SET value = CONCAT(%s, image_id) WHERE value LIKE %s",
                    (f"file://{datadir}/", OLD_PREFIX + "%"),
                )
                print(f"pointed {count:,} file locations at {datadir} in {time.perf_counter() - started:.1f} s")
    finally:
        connection.close()


def fill_store(server: Server, database: str, datadir: Path, files: int, orphans: int) -> set[str]:
    """``files - orphans`` files that rows need and ``orphans`` that none does (made once, then kept);
    return the orphans' names."""
    datadir.mkdir(parents=True, exist_ok=True)
    connection = server.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT image_id FROM image_locations WHERE status != 'deleted' AND value LIKE %s LIMIT %s",
                ("file://%", files - orphans),
            )
            needed = {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()
    present = {path.name for path in datadir.iterdir()}
    orphan_names = present - needed
    old = time.time() - 30 * 86400
    for name in sorted(needed - present) + [str(uuid.uuid4()) for _ in range(orphans - len(orphan_names))]:
        path = datadir / name
        path.touch()
        os.utime(path, (old, old))
        if name not in needed:
            orphan_names.add(name)
    return orphan_names


def main(argv: Sequence[str] | None = None) -> int:
    """Load (or reuse), fill the store, time both commands alternately, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--orphans", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds these counts")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--swift", type=Path, default=None, metavar="RGW_ENV", help="measure Swift and the cache")
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--cache-files", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.swift is not None:
        from bench.orphans_swift import swift_bench

        return swift_bench(args.swift, args.objects, args.cache_files, args.runs, args.workdir / "swift")
    server = Server(port=args.port)
    if not re.fullmatch(r"[A-Za-z0-9_]+", args.database):
        parser.error(f"unsafe database name: {args.database!r}")
    pending = min(PENDING, args.images // 10)
    if args.reuse and already_filled(server, args.database, args.images, pending):
        print(f"reusing database {args.database} ({args.images:,} images)")
    else:
        print(f"filling database {args.database}: {args.images:,} images", flush=True)
        load(server, args.database, args.images, pending, args.workdir)
    datadir = args.workdir / "images"
    point_locations(server, args.database, datadir)
    orphans = fill_store(server, args.database, datadir, args.files, args.orphans)
    files = sum(1 for _ in datadir.iterdir())
    print(f"store: {files:,} files in {datadir}, {len(orphans):,} of them orphans", flush=True)
    config = args.workdir / "glance-api.conf"
    config.write_text(
        "[DEFAULT]\nenabled_backends = fast:file\n\n[glance_store]\ndefault_backend = fast\n\n"
        f"[fast]\nfilesystem_store_datadir = {datadir}\n",
        encoding="utf-8",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRUBCTL_")}
    baseline = (
        f"mariadb --batch --quick -h{server.host} -P{server.port} -u{server.user} {args.database} "
        f"-e 'SELECT value FROM image_locations' > {args.workdir}/baseline.out && ls -f {datadir} >> "
        f"{args.workdir}/baseline.out"
    )
    commands = {
        "scrubctl": [
            str(VENV_BIN / "scrubctl"),
            "--config-file",
            str(config),
            "--db-url",
            server.url(args.database),
            "orphans",
            "-f",
            "json",
        ],
        "baseline": ["sh", "-c", baseline],
    }
    warm = timed(commands["baseline"], args.workdir / "warm.out", args.workdir / "warm.err", env)
    print(f"warm-up baseline: {warm.seconds:.2f} s", flush=True)
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    load_before = os.getloadavg()[0]
    for index in range(args.runs):
        for name, command in commands.items():
            run = timed(command, args.workdir / f"{name}.out", args.workdir / f"{name}.err", env)
            runs[name].append(run)
            print(
                f"run {index + 1} {name}: {run.seconds:.2f} s, CPU {run.cpu_seconds:.2f} s,"
                f" peak RSS {run.max_rss_kib / 1024:.0f} MiB",
                flush=True,
            )
            if run.returncode != 0:
                err = (args.workdir / f"{name}.err").read_text(encoding="utf-8", errors="replace")[-2000:]
                print(f"FAIL: {name} exited {run.returncode}:\n{err}", file=sys.stderr)
                return 1
    listed = json.loads((args.workdir / "scrubctl.out").read_text(encoding="utf-8"))
    names = {item["url"].rsplit("/", 1)[1] for item in listed}
    if names != orphans or not all(item["reclaimable"] and item["kind"] == "unreferenced" for item in listed):
        print(f"FAIL: scrubctl listed {len(names)} pieces, {len(names ^ orphans)} differ from the orphans made")
        return 1
    facts = server_facts(server, args.database)
    median = {name: statistics.median(run.seconds for run in items) for name, items in runs.items()}
    fastest = {name: min(run.seconds for run in items) for name, items in runs.items()}
    rss = {name: max(run.max_rss_kib for run in items) / 1024 for name, items in runs.items()}
    cpu = {name: statistics.median(run.cpu_seconds for run in items) for name, items in runs.items()}
    ratio = median["scrubctl"] / median["baseline"]
    print()
    print(f"`orphans` on {args.images:,} images and {files:,} files ({len(orphans):,} orphans), {args.runs} runs each:")
    print()
    print("| command | median s | min s | client CPU s (median) | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| `scrubctl orphans -f json` | {median['scrubctl']:.2f} | {fastest['scrubctl']:.2f} "
        f"| {cpu['scrubctl']:.2f} | {rss['scrubctl']:.0f} |"
    )
    print(
        f"| `SELECT value FROM image_locations` via `mariadb --batch --quick` + `ls -f` | {median['baseline']:.2f} "
        f"| {fastest['baseline']:.2f} | {cpu['baseline']:.2f} | {rss['baseline']:.0f} |"
    )
    print()
    print(
        f"Ratio (median): **{ratio:.2f}** (target <= 2: {'met' if ratio <= 2 else 'NOT met'}); scrubctl peak RSS "
        f"{rss['scrubctl']:.0f} MiB (target < 250 MB: {'met' if rss['scrubctl'] * 1.048576 < 250 else 'NOT met'})."
    )
    print(
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), MariaDB {facts['version']} "
        f"(innodb_buffer_pool_size {facts['buffer_pool_mib']} MiB, database {facts['database_mib']} MiB), "
        f"Python {platform.python_version()}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
