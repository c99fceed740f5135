"""The Galera tier: the real 3-node MariaDB Galera cluster named by ``SCRUBCTL_TEST_GALERA_ENV``.

``scripts/test`` starts the cluster (``scripts/galera-start``) and exports the path of its ``env``
file. Nodes are numbered 1 to 3, as in the scripts. A test may SIGKILL a node's mariadbd
(``kill_node``) and bring it back (``start_node``: it rejoins by IST or SST and is Synced again);
a node left dead by a failed test is started again before the next test's database is made.

The fixtures themselves (``galera_cluster``, ``galera_database``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from scrubctl.glance.bootstrap import load_mysql_schema

ENV_VARIABLE = "SCRUBCTL_TEST_GALERA_ENV"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
NODES = (1, 2, 3)
CONNECT_TIMEOUT = 5
START_TIMEOUT = 180  # for scripts/galera-start of one node, an SST included
REPLICATION_TIMEOUT = 30


@dataclass(frozen=True)
class GaleraEnv:
    """What ``scripts/galera-start`` wrote into ``RUN_DIR/env``."""

    run_dir: Path
    urls: tuple[str, ...]  # per node, the server's URL (``mysql+pymysql://root@127.0.0.1:PORT/``)
    pid_files: tuple[Path, ...]
    logs: tuple[Path, ...]


def read_env(path: Path) -> GaleraEnv:
    """Parse the ``KEY=value`` lines of an env file."""
    values = dict(
        line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line and line[0] != "#"
    )
    return GaleraEnv(
        run_dir=Path(values["GALERA_RUN_DIR"]),
        urls=tuple(values[f"GALERA_NODE{n}_URL"] for n in NODES),
        pid_files=tuple(Path(values[f"GALERA_NODE{n}_PID_FILE"]) for n in NODES),
        logs=tuple(Path(values[f"GALERA_NODE{n}_LOG"]) for n in NODES),
    )


def galera_problem() -> tuple[GaleraEnv | None, str | None]:
    """The cluster's env, or why the tier cannot run."""
    name = os.environ.get(ENV_VARIABLE)
    if not name:
        return None, f"{ENV_VARIABLE} is not set (scripts/test starts a cluster and sets it)"
    path = Path(name)
    if not path.is_file():
        return None, f"{ENV_VARIABLE}={path} does not exist"
    try:
        env = read_env(path)
    except (KeyError, ValueError) as error:
        return None, f"{path} is not a galera-start env file: {error!r}"
    answering = 0
    problem = None
    for n, url in zip(NODES, env.urls, strict=True):
        try:
            engine = create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT})
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            engine.dispose()
            answering += 1
        except (DBAPIError, ImportError) as error:
            problem = problem or f"node {n} ({url}): {str(error).splitlines()[0]}"
    # A node a previous run killed is started again by the fixtures; none answering means no cluster.
    if answering == 0:
        return None, problem
    return env, None


def _process_state(pid: int) -> str | None:
    """The state letter of a process (``Z`` for a zombie), or None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


@dataclass
class GaleraCluster:
    """The test cluster: its nodes' URLs, and killing and restarting nodes."""

    env: GaleraEnv

    @property
    def run_dir(self) -> Path:
        return self.env.run_dir

    @property
    def urls(self) -> tuple[str, ...]:
        """The three servers' URLs (no database), node 1 first."""
        return self.env.urls

    def url(self, node: int, database: str = "") -> str:
        """The URL of ``node`` (1-3), to ``database`` when given."""
        return self.env.urls[node - 1].rstrip("/") + "/" + database

    def engine(self, node: int, database: str = "") -> Engine:
        """A new engine on ``node`` (the caller disposes of it)."""
        return create_engine(self.url(node, database), connect_args={"connect_timeout": CONNECT_TIMEOUT})

    def log(self, node: int) -> Path:
        return self.env.logs[node - 1]

    def pid(self, node: int) -> int | None:
        """The pid of ``node``'s running mariadbd, from its pid file, or None."""
        try:
            pid = int(self.env.pid_files[node - 1].read_text(encoding="ascii").strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            return None
        if _process_state(pid) in (None, "Z"):
            return None
        mine = f"--defaults-file={self.run_dir}/node{node}/my.cnf "
        return pid if "mariadbd" in command and mine in command else None

    def running(self) -> list[int]:
        """The nodes whose mariadbd runs."""
        return [n for n in NODES if self.pid(n) is not None]

    def status(self, node: int) -> dict[str, str]:
        """``SHOW GLOBAL STATUS LIKE 'wsrep%'`` of ``node``."""
        engine = self.engine(node)
        try:
            with engine.connect() as connection:
                rows = connection.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'wsrep%%'").all()
        finally:
            engine.dispose()
        return {str(name): str(value) for name, value in rows}

    def cluster_size(self, node: int) -> int:
        """``wsrep_cluster_size`` as ``node`` sees it."""
        return int(self.status(node)["wsrep_cluster_size"])

    def wait_cluster_size(self, size: int, nodes: list[int] | None = None, timeout: float = 30) -> None:
        """Wait until each of ``nodes`` (default: the running ones) is Synced in a cluster of ``size``."""
        deadline = time.monotonic() + timeout
        seen: dict[int, str] = {}
        while True:
            pending = []
            for n in nodes or self.running():
                try:
                    status = self.status(n)
                except DBAPIError as error:
                    seen[n] = str(error).splitlines()[0]
                    pending.append(n)
                    continue
                state = (status.get("wsrep_local_state_comment"), status.get("wsrep_cluster_status"))
                seen[n] = f"{state[0]}, {status.get('wsrep_cluster_status')}, size {status.get('wsrep_cluster_size')}"
                if state != ("Synced", "Primary") or status.get("wsrep_cluster_size") != str(size):
                    pending.append(n)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster size not {size} after {timeout}s: {seen} (see {self.log(pending[0])})")
            time.sleep(0.2)

    def kill_node(self, node: int) -> None:
        """SIGKILL ``node``'s mariadbd (found by its pid file) and wait until it is gone."""
        pid = self.pid(node)
        assert pid is not None, f"node {node} is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _process_state(pid) not in (None, "Z"):
            assert time.monotonic() < deadline, f"node {node} (pid {pid}) survived SIGKILL"
            time.sleep(0.05)

    def freeze_node(self, node: int) -> None:
        """SIGSTOP ``node``'s mariadbd: its connections stay open and nothing answers (a hung VM, a
        stalled disk); :meth:`thaw_node` lets it go on."""
        pid = self.pid(node)
        assert pid is not None, f"node {node} is not running"
        os.kill(pid, signal.SIGSTOP)

    def thaw_node(self, node: int) -> None:
        """SIGCONT ``node``'s mariadbd (see :meth:`freeze_node`)."""
        pid = self.pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def start_node(self, node: int) -> None:
        """Start ``node`` again (``scripts/galera-start RUN_DIR NODE``): it rejoins the running cluster by
        IST or SST; return once it is Synced and every running node sees them all."""
        done = subprocess.run(
            [str(SCRIPTS / "galera-start"), str(self.run_dir), str(node)],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 30,
            env={**os.environ, "GALERA_START_TIMEOUT": str(START_TIMEOUT)},
            check=False,
        )
        assert done.returncode == 0, f"galera-start {node} failed: {done.stderr.strip()}"
        running = self.running()
        self.wait_cluster_size(len(running), running)

    def ensure_running(self) -> None:
        """Start again every node that a test killed and left dead."""
        for n in NODES:
            if self.pid(n) is None:
                self.start_node(n)


@dataclass
class GaleraDatabase:
    """A fresh database with the real Glance schema, replicated to the three nodes."""

    cluster: GaleraCluster
    name: str
    urls: tuple[str, ...]  # per node, node 1 first
    engines: dict[int, Engine] = field(default_factory=dict)

    def url(self, node: int) -> str:
        """The URL of this database on ``node`` (1-3)."""
        return self.urls[node - 1]

    def engine(self, node: int) -> Engine:
        """An engine on ``node`` for this database (one per node, disposed of afterwards)."""
        if node not in self.engines:
            self.engines[node] = self.cluster.engine(node, self.name)
        return self.engines[node]

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()
        self.engines.clear()


def _wait_replicated(cluster: GaleraCluster, node: int, name: str, tables: int) -> None:
    """Wait until ``node`` has the schema's ``tables`` tables and the alembic_version row (causal reads)."""
    deadline = time.monotonic() + REPLICATION_TIMEOUT
    engine = cluster.engine(node, name)
    found: object = None
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("SET SESSION wsrep_sync_wait = 1")
                    count = connection.execute(
                        text("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = :name"),
                        {"name": name},
                    ).scalar_one()
                    versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
                    found = (count, len(versions))
                    if count == tables and len(versions) == 1:
                        return
            except DBAPIError as error:
                found = str(error).splitlines()[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"node {node} does not see database {name} after {REPLICATION_TIMEOUT}s: {found}")
            time.sleep(0.1)
    finally:
        engine.dispose()


def create_database(cluster: GaleraCluster) -> Iterator[GaleraDatabase]:
    """Create a database on node 1 with the real Glance schema, wait until nodes 2 and 3 have it, and drop it
    afterwards (from a node still running)."""
    cluster.ensure_running()
    name = f"scrubctl_g_{uuid.uuid4().hex[:12]}"
    server = cluster.engine(1)
    with server.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb3")
    server.dispose()
    engine = cluster.engine(1, name)
    with engine.begin() as connection:
        load_mysql_schema(connection)
    with engine.connect() as connection:
        tables = connection.execute(
            text("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = :name"), {"name": name}
        ).scalar_one()
    engine.dispose()
    database = GaleraDatabase(cluster=cluster, name=name, urls=tuple(cluster.url(n, name) for n in NODES))
    try:
        for n in NODES[1:]:
            _wait_replicated(cluster, n, name, tables)
        yield database
    finally:
        database.dispose()
        node = next(iter(cluster.running()), 1)
        server = cluster.engine(node)
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()
