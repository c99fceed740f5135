"""Benchmark: ``scrubctl scrub`` on a 3-node MariaDB Galera cluster, by 1, 2 and 3 controllers at once.

Creates N due pending_delete images (real 4 KiB files, rows as Glance 33.0.0 writes them) on node 1,
then runs ``scrubctl scrub --yes -f json`` on 1, 2 and 3 nodes at the same time (one process per
node, as one timer per controller would), and once on the single MariaDB server for comparison. Every
run is checked: each image scrubbed exactly once across the processes, every row deleted, every file
gone, no claim left. Prints images/s for each, the CPU the scrubctl processes and the database
servers used, and how busy that kept the machine's cores; never fails on timing.

    scripts/galera-start .run/galera
    .venv/bin/python bench/scrub_galera.py [--images 6000] [--concurrency 4] [--env .run/galera/env]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from erase_runs import env_values

from tests.support import glance_reference as reference

ROOT = Path(__file__).resolve().parent.parent
SINGLE_SERVER_URL = os.environ.get("SCRUBCTL_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
DATABASE = "scrubctl_bench_galera"
SCRUBCTL = Path(sys.executable).with_name("scrubctl")


@dataclass(frozen=True)
class Measurement:
    """One setting: how many processes on which servers, and how fast the whole set went."""

    label: str
    images: int
    seconds: float
    scrubbed_by_process: tuple[int, ...]
    cpu_seconds: float  # user + system time of every scrubctl process together
    server_cpu_seconds: float  # user + system time of the database servers (every node) meanwhile

    @property
    def rate(self) -> float:
        """Images per second, from the first process started to the last one finished."""
        return self.images / self.seconds

    @property
    def machine_busy(self) -> float:
        """The share of the machine's cores the scrubctl processes and the servers kept busy."""
        return (self.cpu_seconds + self.server_cpu_seconds) / (self.seconds * (os.cpu_count() or 1))


SINGLE_SERVER_PID_FILE = Path(os.environ.get("SCRUBCTL_BENCH_MARIADB_PID_FILE", "/run/mysqld/mysqld.pid"))


def node_values(env_file: Path, name: str) -> list[str]:
    """``GALERA_NODE<n>_<name>`` of every node, from ``scripts/galera-start``'s env file."""
    values = env_values(env_file)
    return [values[f"GALERA_NODE{node}_{name}"] for node in range(1, int(values.get("GALERA_NODES", "3")) + 1)]


def server_pids(env_file: Path, single: bool) -> list[int]:
    """The database servers' processes: the single server's, or every Galera node's."""
    files = [SINGLE_SERVER_PID_FILE] if single else [Path(name) for name in node_values(env_file, "PID_FILE")]
    return [int(path.read_text().split()[0]) for path in files if path.exists()]


def cpu_of(pids: list[int]) -> float:
    """User + system seconds the processes have used so far (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def write_config(workdir: Path, name: str, url: str, datadir: Path) -> Path:
    """A glance-api.conf for one controller."""
    path = workdir / f"{name}.conf"
    path.write_text(
        f"[DEFAULT]\nscrub_time = 0\n[database]\nconnection = {url}\n"
        f"[glance_store]\nstores = file\ndefault_store = file\nfilesystem_store_datadir = {datadir}\n"
    )
    return path


def run_together(
    label: str, configs: list[Path], concurrency: int, count: int, workdir: Path, servers: list[int]
) -> Measurement:
    """Start one scrub per configuration at once; wait for all; check that each image went once."""
    outputs = [workdir / f"{label.replace(' ', '-')}-{index}.json" for index in range(len(configs))]
    command = [str(SCRUBCTL), "-q", "scrub", "--yes", "-f", "json", "--concurrency", str(concurrency)]
    server_cpu = cpu_of(servers)
    started = time.monotonic()
    processes = []
    for config, output in zip(configs, outputs, strict=True):
        with output.open("w") as stdout:
            argv = [command[0], "--config-file", str(config), *command[1:]]
            processes.append(subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE))
    cpu = 0.0
    for process in processes:
        _pid, status, usage = os.wait4(process.pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
        if os.waitstatus_to_exitcode(status) != 0:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"{label}: scrubctl exited {status}: {stderr.strip()[-2000:]}")
    seconds = time.monotonic() - started
    server_cpu = cpu_of(servers) - server_cpu
    counts = []
    seen: set[str] = set()
    for output in outputs:
        document = json.loads(output.read_text())
        if document["summary"]["failed"]:
            raise SystemExit(f"{label}: {document['summary']['failed']} image(s) failed")
        ids = [item["id"] for item in document["images"] if item["result"] == "scrubbed"]
        if seen.intersection(ids):
            raise SystemExit(f"{label}: an image was scrubbed by two processes")
        seen.update(ids)
        counts.append(len(ids))
    if len(seen) != count:
        raise SystemExit(f"{label}: {len(seen)} of {count} images scrubbed")
    return Measurement(label, count, seconds, tuple(counts), cpu, server_cpu)


def claims_left(url: str) -> int:
    """Rows left in scrubctl's claims table (0 when it does not exist)."""
    database = url.rsplit("/", 1)[1]
    connection = reference._connect(url.rsplit("/", 1)[0] + "/", database=database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW TABLES LIKE 'scrubctl_claims'")
            if cursor.fetchone() is None:
                return 0
            cursor.execute("SELECT COUNT(*) FROM scrubctl_claims")
            return int(cursor.fetchone()[0])
    finally:
        connection.close()


def one_setting(
    label: str, server_urls: list[str], count: int, concurrency: int, workdir: Path, servers: list[int]
) -> Measurement:
    """Fresh data on the first server, one process per server, checked afterwards."""
    datadir = workdir / "images"
    if datadir.exists():
        shutil.rmtree(datadir)
    datadir.mkdir(parents=True)
    url = reference.create_database(server_urls[0], DATABASE)
    ids = reference.seed_pending_delete_images(url, datadir, count)
    configs = [
        write_config(workdir, f"node{index + 1}", reference.database_url(server, DATABASE), datadir)
        for index, server in enumerate(server_urls)
    ]
    time.sleep(1)  # let the other nodes apply the seeding before the clock starts
    measurement = run_together(label, configs, concurrency, count, workdir, servers)
    problems = reference.verify_scrubbed(url, datadir, ids)
    if problems:
        raise SystemExit(f"{label}: work left undone: {problems[:5]}")
    if claims_left(url):
        raise SystemExit(f"{label}: claims left behind")
    reference.drop_database(server_urls[0], DATABASE)
    return measurement


def main(argv: list[str] | None = None) -> int:
    """Run every setting and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads per process")
    parser.add_argument("--env", type=Path, default=ROOT / ".run" / "galera" / "env")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.env.exists():
        raise SystemExit(f"no Galera cluster: {args.env} is missing (scripts/galera-start .run/galera)")
    nodes = node_values(args.env, "URL")
    workdir = Path(tempfile.mkdtemp(prefix="scrubctl-bench-galera-"))
    results: dict[str, list[Measurement]] = {}
    settings = [
        ("single MariaDB, 1 process", [SINGLE_SERVER_URL]),
        ("Galera, 1 process (node 1)", nodes[:1]),
        ("Galera, 2 processes (nodes 1-2)", nodes[:2]),
        ("Galera, 3 processes (nodes 1-3)", nodes[:3]),
    ]
    try:
        for _round in range(args.rounds):
            for label, servers in settings:
                pids = server_pids(args.env, single=servers == [SINGLE_SERVER_URL])
                results.setdefault(label, []).append(
                    one_setting(label, servers, args.images, args.concurrency, workdir, pids)
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{args.images} due images, 4 KiB files, --concurrency {args.concurrency} per process, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, median of {args.rounds} round(s)"
    )
    print()
    print(
        "| setting | images/s | scrubbed by each process | scrubctl CPU | database servers' CPU | cores busy "
        "| ratio to Galera, 1 process |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    medians = {label: sorted(runs, key=lambda run: run.rate)[len(runs) // 2] for label, runs in results.items()}
    base = medians["Galera, 1 process (node 1)"].rate
    for label, run in medians.items():
        split = " + ".join(map(str, run.scrubbed_by_process))
        print(
            f"| {label} | {run.rate:.0f} | {split} | {run.cpu_seconds:.1f} s | {run.server_cpu_seconds:.1f} s "
            f"| {run.machine_busy:.0%} | {run.rate / base:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
