"""Benchmark: ``scrubctl scrub`` on an RBD store against a bare librbd loop doing the same deletes.

For each concurrency: N Glance-shaped RBD images (4 MiB written, protected snapshot ``snap``,
created in parallel) with their pending_delete rows in the MariaDB database ``scrubctl_bench_rbd``,
erased by a real ``scrubctl scrub --yes -f json`` subprocess; then an identical fresh set erased by a
bare loop of ``unprotect_snap``, ``remove_snap``, ``RBD.remove`` in as many threads, as client.glance.
Prints images/s of each and their ratio (target: scrubctl at 0.9 of the bare loop or better), and
how long after each image left the pool (watched every 20 ms) scrubctl logged its result (target: a
median under 1 s).

scrubctl does more per image than the loop: its database work (claim, re-read, guarded updates,
recorded per batch), a read-only look at every image (snapshots, clones, watchers) and a monitor
round trip before unprotecting. The ratio measures what that honesty costs.

    .venv/bin/python bench/scrub_rbd.py [--images 200] [--concurrency 1 8]

The cluster comes from ``SCRUBCTL_BENCH_CEPH_ENV`` (an env file written by scripts/ceph-start);
without it one is started in /tmp/scrubctl-bench-ceph and stopped afterwards. MariaDB comes from
``SCRUBCTL_BENCH_MARIADB_URL`` (default root@127.0.0.1:3306).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import rados  # noqa: E402
import rbd  # noqa: E402
from erase_runs import Measurement, env_values  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from scrubctl.glance.writer import NewImage, NewLocation, create_image, delete_image  # noqa: E402
from scrubctl.settings.utc import utc_now  # noqa: E402
from tests.support import glance_reference as reference  # noqa: E402

SERVER_URL = os.environ.get("SCRUBCTL_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
DATABASE = "scrubctl_bench_rbd"
SCRUBCTL = Path(sys.executable).with_name("scrubctl")
IMAGE_BYTES = 4 * 1024 * 1024
OWN_RUN_DIR = Path("/tmp/scrubctl-bench-ceph")
RESULT_LINE = re.compile(r"image ([0-9a-f-]{36}) \(bench-\d+\) scrubbed, ")


@dataclass(frozen=True)
class Ceph:
    """The cluster, as scripts/ceph-start describes it."""

    conf: str
    fsid: str
    pool: str
    user: str


def read_env(path: Path) -> Ceph:
    """Read ``KEY=value`` lines of scripts/ceph-start's env file."""
    values = env_values(path)
    return Ceph(values["CEPH_CONF"], values["CEPH_FSID"], values["CEPH_POOL"], values["CEPH_USER"])


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def cluster() -> Iterator[Ceph]:
    """The cluster named by SCRUBCTL_BENCH_CEPH_ENV, or one of our own in /tmp for the run."""
    named = os.environ.get("SCRUBCTL_BENCH_CEPH_ENV")
    if named:
        yield read_env(Path(named))
        return
    env = dict(os.environ)
    if not (OWN_RUN_DIR / "bootstrap.done").exists() and not (port_free(3300) and port_free(6789)):
        env.update(CEPH_MON_V2_PORT="3350", CEPH_MON_V1_PORT="6850")  # another cluster holds the defaults
    subprocess.run([str(ROOT / "scripts" / "ceph-start"), str(OWN_RUN_DIR)], check=True, env=env)
    try:
        yield read_env(OWN_RUN_DIR / "env")
    finally:
        subprocess.run([str(ROOT / "scripts" / "ceph-stop"), str(OWN_RUN_DIR)], check=False)


@contextmanager
def connected(ceph: Ceph, user: str) -> Iterator[Any]:
    """An I/O context on the pool as ``user``."""
    handle = rados.Rados(conffile=ceph.conf, rados_id=user, conf={"client_mount_timeout": "30"})
    handle.connect()
    ioctx = handle.open_ioctx(ceph.pool)
    try:
        yield ioctx
    finally:
        ioctx.close()
        handle.shutdown()


def create_images(ceph: Ceph, count: int) -> list[str]:
    """``count`` Glance-shaped RBD images, made by 16 threads as client.admin."""
    names = [str(uuid.uuid4()) for _ in range(count)]
    data = os.urandom(IMAGE_BYTES)

    def make(ioctx: Any, name: str) -> None:
        rbd.RBD().create(ioctx, name, IMAGE_BYTES, old_format=False, order=23)
        with rbd.Image(ioctx, name) as image:
            image.write(data, 0)
            image.create_snap("snap")
            image.protect_snap("snap")

    with connected(ceph, "admin") as ioctx, ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda name: make(ioctx, name), names))
    return names


def seed_rows(url: str, ceph: Ceph, names: list[str]) -> None:
    """Rows exactly as Glance leaves them after a delayed delete, pointing at the RBD images."""
    engine = create_engine(url)
    now = utc_now()
    with engine.begin() as connection:
        for index, name in enumerate(names):
            location = NewLocation(f"rbd://{ceph.fsid}/{ceph.pool}/{name}/snap")
            image = NewImage(
                id=name,
                name=f"bench-{index:04d}",
                owner="0c4e939acacf4376bdcd1129f1a054ad",
                size=IMAGE_BYTES,
                locations=[location],
                created_at=now - timedelta(days=2, seconds=index),
            )
            create_image(connection, image)
            delete_image(connection, name, now - timedelta(hours=1))
    engine.dispose()


def run_scrubctl(ceph: Ceph, names: list[str], concurrency: int, workdir: Path) -> tuple[Measurement, list[float]]:
    """Seed the rows, run ``scrubctl scrub --yes -f json`` once, check everything went. Also returns,
    for each image, how long after it left the pool (watched every 20 ms) its result was logged."""
    url = reference.create_database(SERVER_URL, DATABASE)
    seed_rows(url, ceph, names)
    config = workdir / "glance-api.conf"
    config.write_text(
        f"[DEFAULT]\nscrub_time = 0\n[database]\nconnection = {url}\n"
        f"[glance_store]\nstores = rbd\ndefault_store = rbd\nrbd_store_pool = {ceph.pool}\n"
        f"rbd_store_user = {ceph.user}\nrbd_store_ceph_conf = {ceph.conf}\nrados_connect_timeout = 30\n"
    )
    command = [str(SCRUBCTL), "--config-file", str(config), "scrub", "--yes", "-f", "json"]
    command += ["--concurrency", str(concurrency)]
    left_pool: dict[str, float] = {}
    reported: dict[str, float] = {}
    output: list[str] = []
    with connected(ceph, "admin") as ioctx:
        watching = threading.Event()

        def watch_pool() -> None:
            while not watching.is_set():
                present = set(rbd.RBD().list(ioctx))
                now = time.monotonic()
                for name in names:
                    if name not in present:
                        left_pool.setdefault(name, now)
                time.sleep(0.02)

        started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stderr is not None
        threads = [
            threading.Thread(target=watch_pool),
            threading.Thread(target=lambda: output.append(process.stdout.read())),  # type: ignore[union-attr]
        ]
        for thread in threads:
            thread.start()
        errors = []
        for line in process.stderr:
            found = RESULT_LINE.search(line)
            if found:
                reported[found.group(1)] = time.monotonic()
            else:
                errors.append(line)
        returncode = process.wait()
        seconds = time.monotonic() - started
        watching.set()
        for thread in threads:
            thread.join()
    if returncode != 0:
        raise SystemExit(f"scrubctl exited {returncode}: {''.join(errors).strip()[-2000:]}")
    summary = json.loads(output[0])["summary"]
    if summary["scrubbed"] != len(names):
        raise SystemExit(f"scrubctl scrubbed {summary['scrubbed']} of {len(names)}")
    delays = [reported[name] - left_pool[name] for name in names]
    return Measurement(len(names), seconds, summary["duration_seconds"]), delays


def run_bare_loop(ceph: Ceph, names: list[str], concurrency: int) -> Measurement:
    """What glance_store does per image, in ``concurrency`` threads, nothing else."""
    started = time.monotonic()
    with connected(ceph, ceph.user) as ioctx:
        connected_at = time.monotonic()
        pending = iter(names)
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    name = next(pending, None)
                if name is None:
                    return
                with rbd.Image(ioctx, name) as image:
                    image.unprotect_snap("snap")
                    image.remove_snap("snap")
                rbd.RBD().remove(ioctx, name)

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        finished = time.monotonic()
    return Measurement(len(names), time.monotonic() - started, finished - connected_at)


def verify_gone(ceph: Ceph, names: list[str]) -> None:
    """Every image of the set is gone from the pool."""
    with connected(ceph, "admin") as ioctx:
        left = set(names) & set(rbd.RBD().list(ioctx))
    if left:
        raise SystemExit(f"{len(left)} RBD images of the set are still there")


def one_round(
    ceph: Ceph, count: int, concurrency: int, workdir: Path, bare_first: bool
) -> tuple[Measurement, Measurement, list[float]]:
    """scrubctl and the bare loop once each, on identical fresh sets, in the order asked; and the
    delays between images leaving the pool and scrubctl's results."""
    results: dict[str, Measurement] = {}
    delays: list[float] = []
    for side in ("bare", "scrubctl") if bare_first else ("scrubctl", "bare"):
        names = create_images(ceph, count)
        if side == "scrubctl":
            results[side], delays = run_scrubctl(ceph, names, concurrency, workdir)
        else:
            results[side] = run_bare_loop(ceph, names, concurrency)
        verify_gone(ceph, names)
    return results["scrubctl"], results["bare"], delays


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs per concurrency, order alternated")
    args = parser.parse_args(argv)
    table: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="scrubctl-bench-rbd-"))
    with cluster() as ceph:
        try:
            for concurrency in args.concurrency:
                pairs = [
                    one_round(ceph, args.images, concurrency, workdir, bare_first=index % 2 == 1)
                    for index in range(args.rounds)
                ]
                whole = statistics.median(scrubctl.rate for scrubctl, _, _ in pairs)
                work = statistics.median(scrubctl.work_rate for scrubctl, _, _ in pairs)
                bare = statistics.median(loop.work_rate for _, loop, _ in pairs)
                paired = sorted(scrubctl.work_rate / loop.work_rate for scrubctl, loop, _ in pairs)
                delays = [delay for _, _, run in pairs for delay in run]
                table.append(
                    f"| {concurrency} | {whole:.1f} / {work:.1f} | {bare:.1f} | {whole / bare:.2f} / {work / bare:.2f} "
                    f"| {paired[0]:.2f}-{paired[-1]:.2f} | {statistics.median(delays):.2f} / {max(delays):.2f} |"
                )
                print(f"concurrency {concurrency} done", file=sys.stderr)
        finally:
            reference.drop_database(SERVER_URL, DATABASE)
    load = os.getloadavg()[0]
    print(
        f"{args.images} RBD images of 4 MiB with a protected snapshot, single-node Ceph (memstore), MariaDB, "
        f"{os.cpu_count()} cores (load {load:.1f}), Python {platform.python_version()}; median of {args.rounds} rounds"
    )
    print()
    print(
        "| concurrency | scrubctl images/s (whole run / after start-up) | bare librbd loop images/s "
        "| ratio (whole / after start-up) | after start-up ratio, per round "
        "| image gone to result logged, s (median / max) |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
