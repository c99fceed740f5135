"""``bench/orphans.py --swift RGW_ENV``: ``scrubctl orphans`` on a Swift store of the test radosgw and on
an image cache directory, against bare listings of the same data in the same run.

Made once and kept (``X-Container-Object-Count`` says whether a container is already full): containers
``benchorph<N>`` of N objects (image ids, one byte each) for N = ``--objects`` and a fifth of it. For
each, a SQLite Glance database whose location rows (``swift+config://ref1/<container>/<id>``, active
images) need 99 % of the objects; the other 1 % are orphans. A cache directory of ``--cache-files``
files (image ids), 99 % of them recorded in ``cached_images`` for this node (active images), 1 % copies
of images that have no row. Runs, alternately:

* ``scrubctl orphans --store objects --older-than 0s -f json`` on each container, and the bare listing
  of that container (``bench/swift_bare_listing.py``: pages of 1,000 names with a marker, standard
  library only);
* ``scrubctl orphans --store image_cache --older-than 0s -f json`` and ``ls -f`` of the cache.

Checks that scrubctl lists exactly the orphans made; prints a markdown table (median seconds, peak RSS).
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.list_pending import VENV_BIN, Run, timed
from scrubctl.glance.bootstrap import create_sqlite_database

ROOT = Path(__file__).resolve().parent.parent
NODE = "http://bench-node:9292"
CREATED = "2026-01-01 00:00:00"


def rgw_values(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of the gateway's ``rgw.env``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def fill_container(values: dict[str, str], container: str, count: int) -> list[str]:
    """The container's names, after PUTting enough one-byte objects (8 threads) to hold ``count``."""
    import swiftclient

    client: Any = swiftclient.Connection(
        authurl=values["RGW_SWIFT_AUTH_URL"], user=values["RGW_SWIFT_USER"], key=values["RGW_SWIFT_KEY"],
        auth_version="1", retries=2,
    )  # fmt: skip
    client.put_container(container)
    present = int(client.head_container(container).get("x-container-object-count", 0))
    storage_url, token = client.get_auth()
    local = threading.local()

    def put(name: str) -> None:
        if not hasattr(local, "client"):
            local.client = swiftclient.Connection(preauthurl=storage_url, preauthtoken=token, retries=2)
        local.client.put_object(container, name, b"x")

    if present < count:
        print(f"filling {container}: {count - present:,} objects", flush=True)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, [str(uuid.uuid4()) for _ in range(count - present)]))
    _headers, items = client.get_container(container, full_listing=True)
    return [str(item["name"]) for item in items]


def glance_database(path: Path, rows: list[tuple[str, str]], cached: list[str]) -> None:
    """A SQLite Glance database: an active image and a location row for each ``(id, url)``; an active
    image and a ``cached_images`` row of this node for each of ``cached``."""
    if path.exists():
        path.unlink()
    create_sqlite_database(path)
    with sqlite3.connect(path) as connection:
        ids = [image_id for image_id, _url in rows] + cached
        connection.executemany(
            "INSERT INTO images (id, status, created_at, deleted, min_disk, min_ram, protected, visibility,"
            " os_hidden) VALUES (?, 'active', ?, 0, 0, 0, 0, 'private', 0)",
            [(image_id, CREATED) for image_id in ids],
        )
        connection.executemany(
            "INSERT INTO image_locations (image_id, value, created_at, deleted, status, meta_data)"
            " VALUES (?, ?, ?, 0, 'active', '{\"store\": \"objects\"}')",
            [(image_id, url, CREATED) for image_id, url in rows],
        )
        connection.execute("INSERT INTO node_reference (node_reference_url) VALUES (?)", (NODE,))
        connection.executemany(
            "INSERT INTO cached_images (image_id, last_accessed, last_modified, size, hits, node_reference_id)"
            " VALUES (?, ?, ?, 1, 0, 1)",
            [(image_id, CREATED, CREATED) for image_id in cached],
        )
    connection.close()


def fill_cache(directory: Path, count: int) -> tuple[list[str], set[str]]:
    """``count`` cached files (made once): the recorded ones' ids, and the orphans' names."""
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted(path.name for path in directory.iterdir())
    if len(names) < count:
        for _ in range(count - len(names)):
            (directory / str(uuid.uuid4())).write_bytes(b"x")
        names = sorted(path.name for path in directory.iterdir())
    orphans = set(names[: count // 100])
    return [name for name in names if name not in orphans], orphans


def config_file(workdir: Path, values: dict[str, str], container: str, cache: Path) -> Path:
    """glance-api.conf with the Swift store ``objects`` (v1 reference ``ref1``) and the image cache."""
    references = workdir / "glance-swift.conf"
    references.write_text(
        f"[ref1]\nuser = {values['RGW_SWIFT_USER']}\nkey = {values['RGW_SWIFT_KEY']}\n"
        f"auth_address = {values['RGW_SWIFT_AUTH_URL']}\nauth_version = 1\n",
        encoding="utf-8",
    )
    path = workdir / f"glance-api-{container}.conf"
    path.write_text(
        f"[DEFAULT]\nenabled_backends = objects:swift\nimage_cache_dir = {cache}\n"
        f"worker_self_reference_url = {NODE}\n\n[glance_store]\ndefault_backend = objects\n\n"
        f"[objects]\nswift_store_config_file = {references}\ndefault_swift_reference = ref1\n"
        f"swift_store_container = {container}\n",
        encoding="utf-8",
    )
    return path


def listed_names(path: Path) -> set[str]:
    """The last URL component of every piece ``orphans -f json`` listed."""
    return {item["url"].rsplit("/", 1)[1] for item in json.loads(path.read_text(encoding="utf-8"))}


def swift_bench(rgw_env: Path, objects: int, cache_files: int, runs: int, workdir: Path) -> int:
    """Fill (or reuse), time alternately, check, print the table."""
    workdir.mkdir(parents=True, exist_ok=True)
    values = rgw_values(rgw_env)
    cache = workdir / "image-cache"
    recorded, cache_orphans = fill_cache(cache, cache_files)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRUBCTL_")}
    env.update({key: values[key] for key in ("RGW_SWIFT_AUTH_URL", "RGW_SWIFT_USER", "RGW_SWIFT_KEY")})
    commands: dict[str, list[str]] = {}
    expected: dict[str, set[str]] = {}
    for size in (objects, objects // 5):
        container = f"benchorph{size}"
        names = fill_container(values, container, size)
        orphans = set(names[::100])
        rows = [(name, f"swift+config://ref1/{container}/{name}") for name in names if name not in orphans]
        database = workdir / f"glance-{size}.sqlite"
        glance_database(database, rows, recorded)
        config = config_file(workdir, values, container, cache)
        scrubctl = [str(VENV_BIN / "scrubctl"), "--config-file", str(config), "--db-url", f"sqlite:///{database}"]
        commands[f"scrubctl {size}"] = [*scrubctl, "orphans", "--store", "objects", "--older-than", "0s", "-f", "json"]
        commands[f"listing {size}"] = [sys.executable, str(ROOT / "bench" / "swift_bare_listing.py"), container]
        expected[f"scrubctl {size}"] = orphans
        if size == objects:
            cache_command = [*scrubctl, "orphans", "--store", "image_cache", "--older-than", "0s", "-f", "json"]
            commands["scrubctl cache"] = cache_command
            commands["ls -f cache"] = ["ls", "-f", str(cache)]
            expected["scrubctl cache"] = cache_orphans
    results: dict[str, list[Run]] = {name: [] for name in commands}
    for index in range(runs):
        for name, command in commands.items():
            out = workdir / f"{name.replace(' ', '-')}.out"
            run = timed(command, out, out.with_suffix(".err"), env)
            results[name].append(run)
            print(f"run {index + 1} {name}: {run.seconds:.2f} s, peak RSS {run.max_rss_kib / 1024:.0f} MiB", flush=True)
            if run.returncode != 0:
                print(f"FAIL: {name} exited {run.returncode}: {out.with_suffix('.err').read_text()[-2000:]}")
                return 1
            if name in expected and listed_names(out) != expected[name]:
                print(f"FAIL: {name} did not list exactly the {len(expected[name])} orphans made")
                return 1
    return report(results, objects, cache_files)


def report(results: dict[str, list[Run]], objects: int, cache_files: int) -> int:
    """The markdown table and the two targets."""
    median = {name: statistics.median(run.seconds for run in runs) for name, runs in results.items()}
    rss = {name: max(run.max_rss_kib for run in runs) / 1024 for name, runs in results.items()}
    small = objects // 5
    print()
    print(f"`orphans` on a Swift container of {objects:,} and {small:,} objects, a cache of {cache_files:,} files:")
    print()
    print("| command | median s | peak RSS MiB |")
    print("|---|---:|---:|")
    for name in results:
        print(f"| {name} | {median[name]:.2f} | {rss[name]:.0f} |")
    ratio = median[f"scrubctl {objects}"] / median[f"listing {objects}"]
    growth = rss[f"scrubctl {objects}"] / rss[f"scrubctl {small}"]
    print()
    print(f"Ratio to the bare listing ({objects:,} objects, median): **{ratio:.2f}** (target <= 2).")
    print(f"Peak RSS {objects:,} vs {small:,} objects: **{growth:.2f}x** (target within 1.2x).")
    return 0
