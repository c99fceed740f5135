"""Benchmark: ``scrubctl scrub`` on a Swift store (Ceph RGW) against a bare swiftclient loop.

For each concurrency: N Glance-shaped objects (4 KiB, named by the image id, a quarter of them DLOs of
4 segments with their zero-byte manifest) in container ``glance_bench`` with their pending_delete rows
in the MariaDB database ``scrubctl_bench_swift``, erased by a real ``scrubctl scrub --yes -f json``
subprocess; then an identical fresh set erased by a bare loop doing what glance_store does per object
in as many threads (``bench/swift_bare_loop.py``, also a process of its own, importing only
swiftclient): HEAD; for a DLO, list its segments (every page) and DELETE each; DELETE the object.
Both are timed whole (start-up, imports and authentication included) and after start-up (scrubctl:
the run its summary reports; the bare loop: after authenticating). Prints objects/s of each and
their ratios (target: scrubctl at 0.9 of the bare loop or better), and,
on a third identical set, scrubctl's swift deleter alone (no database, no claims) in as many threads,
to show where a scrub's time goes. Every run is checked: every object and segment of the set gone
from the listing.

    .venv/bin/python bench/scrub_swift.py [--objects 200] [--concurrency 1 8] [--rounds 3]

The gateway comes from ``SCRUBCTL_BENCH_RGW_ENV`` (default ``.run/ceph/rgw.env``, written by
scripts/rgw-start); MariaDB from ``SCRUBCTL_BENCH_MARIADB_URL`` (default root@127.0.0.1:3306).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import swiftclient  # noqa: E402
from erase_runs import Measurement, env_values  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from scrubctl.glance.writer import NewImage, NewLocation, create_image, delete_image  # noqa: E402
from scrubctl.settings.utc import utc_now  # noqa: E402
from tests.support import glance_reference as reference  # noqa: E402

SERVER_URL = os.environ.get("SCRUBCTL_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
RGW_ENV = Path(os.environ.get("SCRUBCTL_BENCH_RGW_ENV", ROOT / ".run" / "ceph" / "rgw.env"))
DATABASE = "scrubctl_bench_swift"
SCRUBCTL = Path(sys.executable).with_name("scrubctl")
CONTAINER = "glance_bench"
OBJECT_BYTES = 4096
SEGMENTS = 4


@dataclass(frozen=True)
class Rgw:
    """The gateway, as scripts/rgw-start describes it."""

    auth_url: str
    user: str
    key: str


def read_env(path: Path) -> Rgw:
    """Read ``KEY=value`` lines of scripts/rgw-start's env file."""
    values = env_values(path)
    return Rgw(values["RGW_SWIFT_AUTH_URL"], values["RGW_SWIFT_USER"], values["RGW_SWIFT_KEY"])


def connection(rgw: Rgw) -> Any:
    """A swiftclient connection as the test user (v1 auth)."""
    return swiftclient.Connection(authurl=rgw.auth_url, user=rgw.user, key=rgw.key, auth_version="1", retries=0)


def create_objects(rgw: Rgw, count: int) -> tuple[list[str], list[str]]:
    """``count`` objects, a quarter of them DLOs; returns ``(names, DLO names)``."""
    names = [str(uuid.uuid4()) for _ in range(count)]
    large = names[: count // 4]
    data = os.urandom(OBJECT_BYTES)
    writes = [(name, data, None) for name in names[count // 4 :]]
    for name in large:
        writes += [(f"{name}-{index:05d}", data, None) for index in range(1, SEGMENTS + 1)]
        writes.append((name, b"", f"{CONTAINER}/{name}-"))
    local = threading.local()

    def put(item: tuple[str, bytes, str | None]) -> None:
        if not hasattr(local, "client"):
            local.client = connection(rgw)
        name, body, manifest = item
        local.client.put_object(CONTAINER, name, body, headers={"X-Object-Manifest": manifest} if manifest else None)

    segments = [item for item in writes if item[2] is None]
    manifests = [item for item in writes if item[2] is not None]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, segments))
        list(pool.map(put, manifests))
    return names, large


def seed_rows(url: str, names: list[str]) -> None:
    """Rows exactly as Glance leaves them after a delayed delete, pointing at the objects."""
    engine = create_engine(url)
    now = utc_now()
    with engine.begin() as connection:
        for index, name in enumerate(names):
            image = NewImage(
                id=name,
                name=f"bench-{index:04d}",
                owner="0c4e939acacf4376bdcd1129f1a054ad",
                size=OBJECT_BYTES,
                locations=[NewLocation(f"swift+config://ref1/{CONTAINER}/{name}")],
                created_at=now - timedelta(days=2, seconds=index),
            )
            create_image(connection, image)
            delete_image(connection, name, now - timedelta(hours=1))
    engine.dispose()


def run_scrubctl(rgw: Rgw, names: list[str], concurrency: int, workdir: Path) -> Measurement:
    """Seed the rows, run ``scrubctl scrub --yes -f json`` once, check everything went."""
    url = reference.create_database(SERVER_URL, DATABASE)
    seed_rows(url, names)
    references = workdir / "glance-swift.conf"
    references.write_text(
        f"[ref1]\nuser = {rgw.user}\nkey = {rgw.key}\nauth_address = {rgw.auth_url}\nauth_version = 1\n"
    )
    config = workdir / "glance-api.conf"
    config.write_text(
        f"[DEFAULT]\nscrub_time = 0\n[database]\nconnection = {url}\n"
        f"[glance_store]\nstores = swift\ndefault_store = swift\nswift_store_config_file = {references}\n"
        "default_swift_reference = ref1\nswift_store_container = glance\nscrubctl_store_timeout = 30\n"
    )
    command = [str(SCRUBCTL), "--config-file", str(config), "-q", "scrub", "--yes", "-f", "json"]
    command += ["--concurrency", str(concurrency)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"scrubctl exited {done.returncode}: {done.stdout[-1000:]} {done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout)["summary"]
    if summary["scrubbed"] != len(names):
        raise SystemExit(f"scrubctl scrubbed {summary['scrubbed']} of {len(names)}")
    return Measurement(len(names), seconds, summary["duration_seconds"])


def run_bare_loop(rgw: Rgw, names: list[str], concurrency: int, workdir: Path) -> Measurement:
    """The bare loop (``bench/swift_bare_loop.py``) as a process of its own, timed like scrubctl:
    start-up, import and authentication included (``work_seconds``: the calls alone)."""
    listing = workdir / "bare-names.txt"
    listing.write_text("\n".join(names))
    command = [sys.executable, str(ROOT / "bench" / "swift_bare_loop.py"), str(listing), str(concurrency), CONTAINER]
    env = {**os.environ, "RGW_SWIFT_AUTH_URL": rgw.auth_url, "RGW_SWIFT_USER": rgw.user, "RGW_SWIFT_KEY": rgw.key}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"bare loop exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return Measurement(len(names), seconds, float(done.stdout.split()[-1]))


def run_deleter_alone(rgw: Rgw, names: list[str], concurrency: int, workdir: Path) -> Measurement:
    """scrubctl's swift deleter without the engine (no database, no claims), in as many threads:
    where the time of a full scrub goes."""
    from scrubctl.backends.swift import SwiftDeleter
    from scrubctl.settings.config import StoreConfig
    from scrubctl.settings.oslo_syntax import OsloConfig

    references = workdir / "alone-swift.conf"
    references.write_text(
        f"[ref1]\nuser = {rgw.user}\nkey = {rgw.key}\nauth_address = {rgw.auth_url}\nauth_version = 1\n"
    )
    config = workdir / "alone-api.conf"
    config.write_text(f"[glance_store]\nswift_store_config_file = {references}\ndefault_swift_reference = ref1\n")
    store = StoreConfig(name=None, driver="swift", group="glance_store", config=OsloConfig.from_files([config]))
    started = time.monotonic()
    deleter = SwiftDeleter(store, {})
    deleter.check()  # authenticates
    authenticated = time.monotonic()
    pending = iter(names)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                name = next(pending, None)
            if name is None:
                return
            deleter.erase(f"swift+config://ref1/{CONTAINER}/{name}", dry_run=False)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.monotonic()
    deleter.close()
    return Measurement(len(names), finished - started, finished - authenticated)


def verify_gone(rgw: Rgw, names: list[str]) -> None:
    """Nothing of the set (object or segment) is listed any more."""
    _headers, items = connection(rgw).get_container(CONTAINER, full_listing=True)
    wanted = set(names)
    left = [item["name"] for item in items if item["name"][:36] in wanted]
    if left:
        raise SystemExit(f"{len(left)} objects or segments of the set are still listed")


def one_round(rgw: Rgw, count: int, concurrency: int, workdir: Path, bare_first: bool) -> dict[str, Measurement]:
    """scrubctl, the bare loop and the deleter alone once each, on identical fresh sets."""
    results: dict[str, Measurement] = {}
    for side in ("bare", "scrubctl", "alone") if bare_first else ("scrubctl", "bare", "alone"):
        names, _large = create_objects(rgw, count)
        if side == "scrubctl":
            results[side] = run_scrubctl(rgw, names, concurrency, workdir)
        elif side == "bare":
            results[side] = run_bare_loop(rgw, names, concurrency, workdir)
        else:
            results[side] = run_deleter_alone(rgw, names, concurrency, workdir)
        verify_gone(rgw, names)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs per concurrency, order alternated")
    args = parser.parse_args(argv)
    rgw = read_env(RGW_ENV)
    connection(rgw).put_container(CONTAINER)
    table: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="scrubctl-bench-swift-"))
    try:
        for concurrency in args.concurrency:
            pairs = [
                one_round(rgw, args.objects, concurrency, workdir, bare_first=index % 2 == 1)
                for index in range(args.rounds)
            ]
            whole = statistics.median(pair["scrubctl"].rate for pair in pairs)
            work = statistics.median(pair["scrubctl"].work_rate for pair in pairs)
            bare_whole = statistics.median(pair["bare"].rate for pair in pairs)
            bare = statistics.median(pair["bare"].work_rate for pair in pairs)
            alone = statistics.median(pair["alone"].work_rate for pair in pairs)
            paired = sorted(pair["scrubctl"].rate / pair["bare"].rate for pair in pairs)
            table.append(
                f"| {concurrency} | {whole:.0f} / {work:.0f} | {bare_whole:.0f} / {bare:.0f} "
                f"| {whole / bare_whole:.2f} / {work / bare:.2f} | {paired[0]:.2f}-{paired[-1]:.2f} "
                f"| {alone:.0f} ({alone / bare:.2f}) |"
            )
            print(f"concurrency {concurrency} done", file=sys.stderr)
    finally:
        reference.drop_database(SERVER_URL, DATABASE)
    load = os.getloadavg()[0]
    print(
        f"{args.objects} objects of 4 KiB ({args.objects // 4} of them DLOs of {SEGMENTS} segments), Ceph RGW 16.2 "
        f"(memstore), Swift v1 auth, MariaDB, {os.cpu_count()} cores (load {load:.1f}), "
        f"Python {platform.python_version()}; median of {args.rounds} rounds"
    )
    print()
    print(
        "| concurrency | scrubctl objects/s (whole run / after start-up) | bare swiftclient loop objects/s "
        "(whole run / after start-up) | ratio (whole / after start-up) | whole-run ratio, per round "
        "| deleter alone objects/s (ratio after start-up) |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
