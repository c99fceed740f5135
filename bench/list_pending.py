"""Benchmark ``scrubctl list-pending`` against the same SELECT run through the ``mariadb`` client.

Fills a dedicated MariaDB database with the real Glance schema and a realistic image history
(default 1,000,000 images, 100,000 of them ``pending_delete`` exactly as Glance 33.0.0 leaves them
after ``DELETE /v2/images/{id}`` with ``delayed_delete = True``), then times, alternately:

* ``scrubctl --db-url ... list-pending -f json`` (stdout to a file), with its peak RSS;
* the one SELECT behind the pending-images section (``pending_images_statement(Selection(), None)``
  compiled for MySQL with literal binds) through ``mariadb --batch --quick`` (stdout to a file).

``list-pending`` also runs a second, small query (pending locations of active images; it returns
nothing here), so the ratio compares the whole command with the one SELECT. Prints a markdown table
for docs/benchmarks.md. Exits 0 whatever the timings; non-zero only when an output is wrong or a command fails.

Usage::

    .venv/bin/python bench/list_pending.py [--images 1000000] [--pending 100000] [--runs 3]
                                           [--reuse] [--database scrubctl_bench_list]
                                           [--port 3306] [--workdir /tmp/scrubctl-bench-list]

The load writes TSV files, drops the secondary indexes and foreign keys of the image tables, runs
``LOAD DATA LOCAL INFILE``, rebuilds them and checks ``SHOW CREATE TABLE`` matches the dump again.
One untimed pass of the SELECT precedes the timed runs. The database is left in place so that
``--reuse`` can skip the load next time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pymysql
from pymysql.constants import CLIENT
from sqlalchemy import create_engine
from sqlalchemy.dialects import mysql

from scrubctl.glance.bootstrap import load_mysql_schema, mysql_statements, schema_sql
from scrubctl.glance.pending import Selection, pending_images_statement

HOST = "127.0.0.1"
PORT = 3306
USER = "root"
DEFAULT_DATABASE = "scrubctl_bench_list"
SEED = 20261121
WORKDIR = Path("/tmp/scrubctl-bench-list")
VENV_BIN = Path(sys.executable).parent
IMAGE_TABLES = ("images", "image_locations", "image_properties", "image_tags", "image_members")
CHILD_TABLES = IMAGE_TABLES[1:]

# Column lists of the generated TSV files (auto-increment ids are left to the server).
COLUMNS = {
    "images": (
        "id, name, size, status, created_at, updated_at, deleted_at, deleted, disk_format, container_format,"
        " checksum, owner, min_disk, min_ram, protected, virtual_size, visibility, os_hidden, os_hash_algo,"
        " os_hash_value"
    ),
    "image_locations": "image_id, value, created_at, updated_at, deleted_at, deleted, meta_data, status",
    "image_properties": "image_id, name, value, created_at, updated_at, deleted_at, deleted",
    "image_tags": "image_id, value, created_at, updated_at, deleted_at, deleted",
    "image_members": "image_id, member, can_share, created_at, updated_at, deleted_at, deleted, status",
}

# History shape: of the images that are not pending, this share is already scrubbed ("deleted"),
# this share "deactivated"; the rest are "active".
DELETED_SHARE = 0.35
DEACTIVATED_SHARE = 0.01
TWO_LOCATION_SHARE = 0.05
REMOVED_TAG_SHARE = 0.10
VISIBILITIES = ("private",) * 80 + ("public",) * 5 + ("shared",) * 10 + ("community",) * 5
PROPERTIES = (
    ("os_distro", ("ubuntu", "debian", "centos", "rocky", "windows", "cirros")),
    ("os_version", ("22.04", "24.04", "12", "9", "2022", "0.6.2")),
    ("os_type", ("linux", "windows")),
    ("architecture", ("x86_64", "aarch64")),
    ("hw_disk_bus", ("virtio", "scsi")),
    ("hw_scsi_model", ("virtio-scsi",)),
    ("hw_qemu_guest_agent", ("yes", "no")),
    ("hw_machine_type", ("q35", "pc")),
    ("os_require_quiesce", ("yes",)),
    ("owner_specified.openstack.md5", ("",)),
)
TAGS = ("prod", "ci", "golden", "nightly", "backup", "team-a", "team-b", "gpu", "hardened", "legacy")
YEAR = 365 * 86400
MIN_AGE = 300  # the newest deletion is five minutes old
SCRUB_DELAY_MAX = 3600  # a scrubbed image was scrubbed up to an hour after its deletion
RBD_FSID = "9c0b6e2e-5b8e-4a4e-9d55-2f1f6c4f1d7a"


@dataclasses.dataclass(frozen=True)
class Run:
    """One timed child process."""

    seconds: float
    max_rss_kib: int
    returncode: int
    cpu_seconds: float
    """User + system CPU time of the command itself (the server's work is not in it)."""


@dataclasses.dataclass(frozen=True)
class TableFile:
    """A generated TSV file and how many rows it holds."""

    table: str
    path: Path
    rows: int


# ---------------------------------------------------------------------------
# Connections and schema
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Server:
    """The MariaDB server under test (root, empty password)."""

    host: str = HOST
    port: int = PORT
    user: str = USER

    def connect(self, database: str | None = None, **extra: Any) -> pymysql.connections.Connection[Any]:
        """Open a PyMySQL connection, to ``database`` when given."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": "",
            "charset": "utf8mb4",
        }
        if database:
            kwargs["database"] = database
        kwargs.update(extra)
        return pymysql.connect(**kwargs)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database``, as scrubctl is given it."""
        return f"mysql+pymysql://{self.user}@{self.host}:{self.port}/{database}"


def expected_keys() -> dict[str, set[str]]:
    """Index and foreign-key names of the image tables in the real schema dump, by table."""
    keys: dict[str, set[str]] = {}
    for statement in mysql_statements(schema_sql("mysql")):
        match = re.match(r"CREATE TABLE `(\w+)`", statement)
        if match and match.group(1) in IMAGE_TABLES:
            names = set(re.findall(r"^\s+(?:UNIQUE )?KEY `(\w+)`", statement, re.M))
            names |= {f"fk:{name}" for name in re.findall(r"^\s+CONSTRAINT `(\w+)` FOREIGN KEY", statement, re.M)}
            keys[match.group(1)] = names
    return keys


def present_keys(cursor: Any, database: str) -> dict[str, set[str]]:
    """Index and foreign-key names present in ``database``, by image table."""
    keys: dict[str, set[str]] = {table: set() for table in IMAGE_TABLES}
    cursor.execute(
        "SELECT DISTINCT table_name, index_name FROM information_schema.statistics"
        " WHERE table_schema = %s AND index_name != 'PRIMARY'",
        (database,),
    )
    for table, name in cursor.fetchall():
        keys.setdefault(table, set()).add(name)
    cursor.execute(
        "SELECT table_name, constraint_name FROM information_schema.referential_constraints"
        " WHERE constraint_schema = %s",
        (database,),
    )
    for table, name in cursor.fetchall():
        keys.setdefault(table, set()).add(f"fk:{name}")
    return {table: names for table, names in keys.items() if table in IMAGE_TABLES}


def already_filled(server: Server, database: str, images: int, pending: int) -> bool:
    """Whether ``database`` holds a complete load with these counts (all keys rebuilt)."""
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = %s", (database,))
            if cur.fetchone()[0] == 0:
                return False
            cur.execute(f"USE `{database}`")
            if present_keys(cur, database) != expected_keys():
                return False
            cur.execute("SELECT COUNT(*) FROM images")
            total = cur.fetchone()[0]
            cur.execute("SELECT COUNT(*) FROM images WHERE deleted = 1 AND status = 'pending_delete'")
            waiting = cur.fetchone()[0]
            return bool(total == images and waiting == pending)
    except pymysql.MySQLError:
        return False
    finally:
        conn.close()


def create_schema(server: Server, database: str) -> None:
    """Drop and recreate ``database`` and load the real Glance schema into it."""
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"CREATE DATABASE `{database}`")
    finally:
        conn.close()
    engine = create_engine(server.url(database))
    try:
        with engine.begin() as connection:
            load_mysql_schema(connection)
    finally:
        engine.dispose()


def show_create(cursor: Any, table: str) -> str:
    """``SHOW CREATE TABLE`` without the ``AUTO_INCREMENT=`` counter."""
    cursor.execute(f"SHOW CREATE TABLE `{table}`")
    return re.sub(r" AUTO_INCREMENT=\d+", "", cursor.fetchone()[1])


def secondary_keys(create: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Return the secondary index definitions and ``(name, definition)`` of each foreign key."""
    indexes = [line.strip().rstrip(",") for line in create.splitlines() if re.match(r"\s+(UNIQUE )?KEY `", line)]
    foreign = [
        (match.group(1), line.strip().rstrip(","))
        for line in create.splitlines()
        if (match := re.match(r"\s+CONSTRAINT `(\w+)` FOREIGN KEY", line))
    ]
    return indexes, foreign


def key_name(definition: str) -> str:
    """The name in an index definition such as ``KEY `ix_images_deleted` (`deleted`)``."""
    match = re.search(r"KEY `(\w+)`", definition)
    if match is None:
        raise ValueError(f"not an index definition: {definition}")
    return match.group(1)


# ---------------------------------------------------------------------------
# Generating the history
# ---------------------------------------------------------------------------


def stamp(epoch: int) -> str:
    """A naive UTC DATETIME literal, whole seconds, as Glance stores it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def generate(images: int, pending: int, workdir: Path, now: int) -> list[TableFile]:
    """Write one TSV file per image table; images are sorted by id, children in creation order."""
    rng = random.Random(SEED)
    others = images - pending
    deleted = round(others * DELETED_SHARE)
    deactivated = round(others * DEACTIVATED_SHARE)
    kinds = ["pending_delete"] * pending + ["deleted"] * deleted + ["deactivated"] * deactivated
    kinds += ["active"] * (images - len(kinds))
    rng.shuffle(kinds)
    owners = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(2000)]
    members_pool = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(500)]
    first_created = now - 3 * YEAR
    span = 3 * YEAR - 3600  # the newest image is an hour old
    image_lines: list[str] = []
    location_lines: list[str] = []
    property_lines: list[str] = []
    tag_lines: list[str] = []
    member_lines: list[str] = []
    rand = rng.random
    randint = rng.randint
    bits = rng.getrandbits
    for index, kind in enumerate(kinds):
        image_id = str(uuid.UUID(int=bits(128), version=4))
        created = first_created + index * span // images + randint(0, 59)
        created_s = stamp(created)
        live = kind in ("active", "deactivated")
        if live:
            updated = created + randint(30, 900)
            deleted_at_s = r"\N"
            updated_s = stamp(updated)
            child_deleted_s, child_flag = r"\N", 0
        else:
            t_del = randint(max(created + 60, now - YEAR), now - MIN_AGE)
            deleted_at_s = stamp(t_del)
            child_deleted_s, child_flag = deleted_at_s, 1
            updated_s = (
                deleted_at_s if kind == "pending_delete" else stamp(min(t_del + randint(60, SCRUB_DELAY_MAX), now))
            )
        size = randint(10 << 20, 20 << 30)
        visibility = VISIBILITIES[randint(0, len(VISIBILITIES) - 1)]
        image_lines.append(
            f"{image_id}\timage-{index:07d}\t{size}\t{kind}\t{created_s}\t{updated_s}\t{deleted_at_s}\t"
            f"{0 if live else 1}\t{'qcow2' if rand() < 0.7 else 'raw'}\tbare\t{bits(128):032x}\t"
            f"{owners[randint(0, len(owners) - 1)]}\t0\t0\t0\t{size}\t{visibility}\t0\tsha512\t{bits(512):0128x}"
        )
        # Locations: "active" while live; "pending_delete" stamped one second before the image
        # (as measured on the real API); "deleted" at scrub time once scrubbed.
        if live:
            loc_status, loc_at_s, loc_updated_s = "active", r"\N", created_s
        elif kind == "pending_delete":
            loc_status, loc_at_s = "pending_delete", stamp(t_del - 1)
            loc_updated_s = loc_at_s
        else:
            loc_status, loc_at_s, loc_updated_s = "deleted", updated_s, updated_s
        location_lines.append(
            f"{image_id}\tfile:///var/lib/glance/images/{image_id}\t{created_s}\t{loc_updated_s}\t{loc_at_s}\t"
            f'{child_flag}\t{{"store": "fast"}}\t{loc_status}'
        )
        if rand() < TWO_LOCATION_SHARE:
            location_lines.append(
                f"{image_id}\trbd://{RBD_FSID}/images/{image_id}/snap\t{created_s}\t{loc_updated_s}\t{loc_at_s}\t"
                f'{child_flag}\t{{"store": "ceph"}}\t{loc_status}'
            )
        child_updated_s = created_s if live else child_deleted_s
        for name, values in rng.sample(PROPERTIES, randint(3, 5)):
            property_lines.append(
                f"{image_id}\t{name}\t{values[randint(0, len(values) - 1)]}\t{created_s}\t{child_updated_s}\t"
                f"{child_deleted_s}\t{child_flag}"
            )
        for tag in rng.sample(TAGS, randint(1, 3)):
            tag_lines.append(f"{image_id}\t{tag}\t{created_s}\t{child_updated_s}\t{child_deleted_s}\t{child_flag}")
        if rand() < REMOVED_TAG_SHARE:
            # A tag removed while the image was live keeps its older deleted_at.
            removed_s = stamp(created + randint(60, 3600))
            tag_lines.append(f"{image_id}\tobsolete\t{created_s}\t{removed_s}\t{removed_s}\t1")
        if visibility == "shared":
            for member in rng.sample(members_pool, randint(1, 2)):
                member_lines.append(
                    f"{image_id}\t{member}\t0\t{created_s}\t{child_updated_s}\t{child_deleted_s}\t{child_flag}\taccepted"
                )
    image_lines.sort()  # lines start with the id: load in primary-key order
    workdir.mkdir(parents=True, exist_ok=True)
    files: list[TableFile] = []
    for table, lines in zip(
        IMAGE_TABLES, (image_lines, location_lines, property_lines, tag_lines, member_lines), strict=True
    ):
        path = workdir / f"{table}.tsv"
        with path.open("w", encoding="utf-8") as handle:
            for start in range(0, len(lines), 100_000):
                handle.write("\n".join(lines[start : start + 100_000]))
                handle.write("\n")
        files.append(TableFile(table, path, len(lines)))
    return files


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load(server: Server, database: str, images: int, pending: int, workdir: Path) -> None:
    """Recreate ``database`` and fill it; print how long each step took."""
    started = time.perf_counter()
    now = int(time.time())
    files = generate(images, pending, workdir, now)
    generated = time.perf_counter()
    print(
        f"generated {', '.join(f'{f.rows:,} {f.table}' for f in files)} in {generated - started:.1f} s",
        flush=True,
    )
    create_schema(server, database)
    conn = server.connect(database, local_infile=True, autocommit=False, client_flag=CLIENT.LOCAL_FILES)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            originals = {table: show_create(cur, table) for table in IMAGE_TABLES}
            keys = {table: secondary_keys(create) for table, create in originals.items()}
            # Drop the foreign keys and secondary indexes; rebuilt by sorting after the load.
            for table in CHILD_TABLES:
                for name, _definition in keys[table][1]:
                    cur.execute(f"ALTER TABLE `{table}` DROP FOREIGN KEY `{name}`")
            for table in IMAGE_TABLES:
                names = [key_name(index) for index in keys[table][0]]
                if names:
                    cur.execute(f"ALTER TABLE `{table}` " + ", ".join(f"DROP KEY `{name}`" for name in names))
            for table_file in files:
                step = time.perf_counter()
                cur.execute(
                    f"LOAD DATA LOCAL INFILE '{table_file.path}' INTO TABLE `{table_file.table}` CHARACTER SET utf8mb4"
                    f" FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({COLUMNS[table_file.table]})"
                )
                conn.commit()
                warnings = cur.execute("SHOW WARNINGS")
                if warnings:
                    raise RuntimeError(f"LOAD DATA into {table_file.table} warned: {cur.fetchall()[:3]}")
                print(
                    f"  loaded {table_file.rows:,} rows into {table_file.table} in {time.perf_counter() - step:.1f} s"
                )
            step = time.perf_counter()
            for table in IMAGE_TABLES:
                if keys[table][0]:
                    cur.execute(f"ALTER TABLE `{table}` " + ", ".join(f"ADD {index}" for index in keys[table][0]))
            for table in CHILD_TABLES:
                for _name, definition in keys[table][1]:
                    cur.execute(f"ALTER TABLE `{table}` ADD {definition}")
            print(f"  rebuilt indexes and foreign keys in {time.perf_counter() - step:.1f} s")
            for table in IMAGE_TABLES:
                if show_create(cur, table) != originals[table]:
                    raise RuntimeError(f"{table}: schema differs from the dump after the rebuild")
            cur.execute("ANALYZE TABLE " + ", ".join(f"`{table}`" for table in IMAGE_TABLES))
            cur.fetchall()
        conn.commit()
    finally:
        conn.close()
    for table_file in files:
        table_file.path.unlink()
    print(
        f"load time: {time.perf_counter() - started:.1f} s (generate {generated - started:.1f} s,"
        f" load + index {time.perf_counter() - generated:.1f} s)",
        flush=True,
    )


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


# Linux carries the pre-exec high-water mark of a process into its ru_maxrss, so a child forked
# straight from this process would report this process's peak (gigabytes after a load). Each
# command is therefore forked by this small launcher (``python -I -S``, about 8 MiB), which times it
# and reads its rusage with ``os.wait4``; the floor of the RSS figure is the launcher's ~8 MiB.
LAUNCHER = """
import json, os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_pid, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result, "w") as handle:
    json.dump([seconds, usage.ru_maxrss, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime], handle)
"""


def timed(argv: Sequence[str], stdout: Path, stderr: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` with stdout and stderr to files; return its wall time and its own peak RSS."""
    result = stdout.with_suffix(".rusage.json")
    with stdout.open("wb") as out, stderr.open("wb") as err:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, str(result), *argv],
            stdout=out,
            stderr=err,
            env=env,
            check=True,
        )
    seconds, max_rss_kib, returncode, cpu_seconds = json.loads(result.read_text(encoding="utf-8"))
    return Run(float(seconds), int(max_rss_kib), int(returncode), float(cpu_seconds))


def select_sql() -> str:
    """The SELECT behind ``list-pending``'s pending-images section, as MariaDB receives it."""
    statement = pending_images_statement(Selection(), None)
    return str(statement.compile(dialect=mysql.dialect(), compile_kwargs={"literal_binds": True}))


def check_outputs(scrubctl_out: Path, mariadb_out: Path, pending: int) -> list[str]:
    """Check both outputs: ``pending`` pending_delete images each, the same ids and locations."""
    problems: list[str] = []
    try:
        listed = json.loads(scrubctl_out.read_text(encoding="utf-8"))
    except ValueError as error:
        return [f"scrubctl output is not JSON: {error}"]
    if not isinstance(listed, list):
        return ["scrubctl output is not a JSON array"]
    if len(listed) != pending:
        problems.append(f"scrubctl listed {len(listed)} objects, expected {pending}")
    wrong = [item for item in listed if not isinstance(item, dict) or item.get("status") != "pending_delete"]
    if wrong:
        problems.append(f"{len(wrong)} objects are not pending_delete images, e.g. {str(wrong[0])[:200]}")
    scrubctl_ids = {item.get("id") for item in listed if isinstance(item, dict)}
    scrubctl_locations = sum(len(item.get("locations", ())) for item in listed if isinstance(item, dict))
    with mariadb_out.open(encoding="utf-8") as handle:
        header = handle.readline().split("\t")
        rows = [line.split("\t", 11) for line in handle]
    if header[0] != "id":
        problems.append(f"unexpected mariadb header {header[:3]}")
    mariadb_ids = {row[0] for row in rows}
    mariadb_locations = sum(1 for row in rows if row[10] != "NULL")
    if len(mariadb_ids) != pending:
        problems.append(f"the SELECT returned {len(mariadb_ids)} images, expected {pending}")
    if scrubctl_ids != mariadb_ids:
        problems.append(f"scrubctl and the SELECT disagree on {len(scrubctl_ids ^ mariadb_ids)} image ids")
    if scrubctl_locations != mariadb_locations:
        problems.append(f"scrubctl lists {scrubctl_locations} locations, the SELECT {mariadb_locations}")
    return problems


def server_facts(server: Server, database: str) -> dict[str, str]:
    """MariaDB version and the settings that bear on the timings."""
    conn = server.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
            version, pool = cur.fetchone()
            cur.execute(
                "SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.tables"
                " WHERE table_schema = %s",
                (database,),
            )
            size = cur.fetchone()[0]
    finally:
        conn.close()
    return {"version": str(version), "buffer_pool_mib": str(int(pool) // 1048576), "database_mib": str(size)}


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, if any."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: Sequence[str] | None = None) -> int:
    """Load (or reuse) the database, time both commands alternately, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000, help="images in total (default %(default)s)")
    parser.add_argument("--pending", type=int, default=100_000, help="pending_delete images (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command (default %(default)s)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds these counts")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="database to fill (default %(default)s)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="TSV files and outputs (default %(default)s)")
    parser.add_argument("--port", type=int, default=PORT, help="MariaDB port on 127.0.0.1 (default %(default)s)")
    args = parser.parse_args(argv)
    server = Server(port=args.port)
    if not re.fullmatch(r"[A-Za-z0-9_]+", args.database):
        parser.error(f"unsafe database name: {args.database!r}")
    if not 0 < args.pending <= args.images or args.runs < 1:
        parser.error("need 0 < --pending <= --images and --runs >= 1")

    if args.reuse and already_filled(server, args.database, args.images, args.pending):
        print(f"reusing database {args.database} ({args.images:,} images, {args.pending:,} pending_delete)")
    else:
        print(f"filling database {args.database}: {args.images:,} images, {args.pending:,} pending_delete", flush=True)
        load(server, args.database, args.images, args.pending, args.workdir)

    args.workdir.mkdir(parents=True, exist_ok=True)
    sql = select_sql()
    (args.workdir / "select.sql").write_text(sql + ";\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRUBCTL_")}
    commands = {
        "scrubctl": [
            str(VENV_BIN / "scrubctl"),
            "--db-url",
            server.url(args.database),
            "list-pending",
            "-f",
            "json",
        ],
        "mariadb": [
            "mariadb",
            "--batch",
            "--quick",
            f"-h{server.host}",
            f"-P{server.port}",
            f"-u{server.user}",
            args.database,
            "-e",
            sql,
        ],
    }
    # One untimed pass of the SELECT brings the pages it reads into the buffer pool.
    warm = timed(commands["mariadb"], args.workdir / "mariadb.out", args.workdir / "mariadb.err", env)
    print(f"warm-up SELECT: {warm.seconds:.2f} s", flush=True)
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

    problems = check_outputs(args.workdir / "scrubctl.out", args.workdir / "mariadb.out", args.pending)
    if problems:
        print("FAIL: " + "; ".join(problems), file=sys.stderr)
        return 1

    facts = server_facts(server, args.database)
    median = {name: statistics.median(run.seconds for run in items) for name, items in runs.items()}
    fastest = {name: min(run.seconds for run in items) for name, items in runs.items()}
    rss = {name: max(run.max_rss_kib for run in items) / 1024 for name, items in runs.items()}
    cpu = {name: statistics.median(run.cpu_seconds for run in items) for name, items in runs.items()}
    ratio = median["scrubctl"] / median["mariadb"]
    out_mib = {name: (args.workdir / f"{name}.out").stat().st_size / 1048576 for name in commands}
    print()
    print(
        f"`list-pending` on {args.images:,} images ({args.pending:,} `pending_delete`), "
        f"{args.runs} runs each, alternating:"
    )
    print()
    print("| command | median s | min s | client CPU s (median) | peak RSS MiB | output MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| `scrubctl list-pending -f json` | {median['scrubctl']:.2f} | {fastest['scrubctl']:.2f} "
        f"| {cpu['scrubctl']:.2f} | {rss['scrubctl']:.0f} | {out_mib['scrubctl']:.0f} |"
    )
    print(
        f"| same SELECT via `mariadb --batch --quick` | {median['mariadb']:.2f} | {fastest['mariadb']:.2f} "
        f"| {cpu['mariadb']:.2f} | {rss['mariadb']:.0f} | {out_mib['mariadb']:.0f} |"
    )
    print()
    print(
        f"Ratio scrubctl / mariadb (median): **{ratio:.2f}** (target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'}); "
        f"scrubctl peak RSS {rss['scrubctl']:.0f} MiB (target < 150 MB: "
        f"{'met' if rss['scrubctl'] * 1.048576 < 150 else 'NOT met'})."
    )
    print(
        "The ratio compares the whole command (start-up, schema check, both queries, JSON output) with the one "
        "SELECT; `list-pending` also runs a second, small query (pending locations of active images)."
    )
    print(
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), MariaDB {facts['version']} "
        f"(innodb_buffer_pool_size {facts['buffer_pool_mib']} MiB, database {facts['database_mib']} MiB), "
        f"Python {platform.python_version()}; 1-minute load average {load_before:.1f} before the runs, "
        f"{os.getloadavg()[0]:.1f} after."
    )
    print(f"Database `{args.database}` left in place (rerun with --reuse); outputs in {args.workdir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
