"""Fixtures: every database test runs on SQLite and on a real MariaDB, each in its own database.

The MariaDB tier needs a server at ``SCRUBCTL_TEST_MARIADB_URL`` (default root@127.0.0.1:3306);
``scripts/test`` starts or installs one. The Galera tier (``galera_cluster``, ``galera_database``)
needs the 3-node cluster whose env file ``SCRUBCTL_TEST_GALERA_ENV`` names; ``scripts/test`` starts
it. When ``SCRUBCTL_REQUIRE_TIERS`` names a tier (CI does), a tier that cannot start fails the run
instead of being skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from scrubctl.glance.bootstrap import create_sqlite_database, load_mysql_schema
from tests.support import glance_reference
from tests.support.galera import GaleraCluster, GaleraDatabase, create_database, galera_problem
from tests.support.world import GlanceWorld

MARIADB_URL = os.environ.get("SCRUBCTL_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
GLANCE_VENV = Path(
    os.environ.get(
        "SCRUBCTL_GLANCE_VENV",
        Path.home() / ".cache" / "scrubctl" / f"glance-{glance_reference.GLANCE_VERSION}-venv",
    )
)
# The fixtures of the Ceph, RADOS Gateway, cloud and container tiers (ceph, rbd_world, rgw, s3, swift,
# cloud, image, glance_volume), registered for every test module.
pytest_plugins = ("tests.support.ceph", "tests.support.rgw", "tests.support.cloud", "tests.support.containers")
REQUIRED_TIERS = set(os.environ.get("SCRUBCTL_REQUIRE_TIERS", "").replace(",", " ").split())


@pytest.fixture(autouse=True)
def _no_ambient_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCRUBCTL_CONFIG_FILE", "SCRUBCTL_DB_URL", "JOURNAL_STREAM", "SCRUBCTL_JOURNAL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


def require_tier(tier: str, reason: str) -> None:
    """Skip a test whose tier is missing, or fail it when that tier is required."""
    if tier in REQUIRED_TIERS:
        pytest.fail(f"the {tier} tier is required (SCRUBCTL_REQUIRE_TIERS) but unavailable: {reason}")
    pytest.skip(f"{tier} unavailable: {reason}")


@cache
def mariadb_problem() -> str | None:
    """Why the MariaDB tier cannot run, or None."""
    try:
        engine = create_engine(MARIADB_URL, connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
        engine.dispose()
    except (OperationalError, ImportError) as error:
        return str(error).splitlines()[0]
    return None


def mariadb_database(*, with_schema: bool = True) -> Iterator[str]:
    """Create a MariaDB database, with the real Glance schema unless ``with_schema`` is false (for
    ``glance-manage db sync`` to create); drop it afterwards."""
    problem = mariadb_problem()
    if problem:
        require_tier("mariadb", problem)
    name = f"scrubctl_t_{uuid.uuid4().hex[:12]}"
    server = create_engine(MARIADB_URL)
    with server.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb3")
    url = MARIADB_URL.rstrip("/") + f"/{name}"
    if with_schema:
        engine = create_engine(url)
        with engine.begin() as connection:
            load_mysql_schema(connection)
        engine.dispose()
    try:
        yield url
    finally:
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()


@pytest.fixture(scope="session")
def real_glance() -> glance_reference.GlanceInstall:
    """Glance 33.0.0 from PyPI in a virtualenv of its own (built once, then reused); part of the
    MariaDB tier, so a required tier fails when it cannot be installed."""
    install = glance_reference.ensure_glance(GLANCE_VENV)
    if install is None:
        require_tier("mariadb", f"cannot install glance=={glance_reference.GLANCE_VERSION} into {GLANCE_VENV}")
    assert install is not None
    return install


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh Glance database with the real schema: SQLite, then MariaDB."""
    if request.param == "sqlite":
        path = tmp_path / "glance.sqlite"
        create_sqlite_database(path)
        yield f"sqlite:///{path}"
    else:
        yield from mariadb_database()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[GlanceWorld]:
    """A Glance world (database, stores, config) on each database kind."""
    engine = create_engine(database_url)
    kind = "mariadb" if database_url.startswith("mysql") else "sqlite"
    yield GlanceWorld(kind=kind, url=database_url, engine=engine, root=tmp_path)
    engine.dispose()


@pytest.fixture(scope="session")
def galera_cluster() -> GaleraCluster:
    """The 3-node Galera test cluster (every node started and Synced): node URLs, ``kill_node(n)``,
    ``start_node(n)``."""
    env, problem = galera_problem()
    if env is None:
        require_tier("galera", problem or "no cluster")
    assert env is not None
    cluster = GaleraCluster(env)
    cluster.ensure_running()
    return cluster


@pytest.fixture
def galera_database(galera_cluster: GaleraCluster) -> Iterator[GaleraDatabase]:
    """A fresh database with the real Glance schema, made on node 1 and seen by nodes 2 and 3;
    ``.urls`` has one URL per node. Dropped afterwards."""
    yield from create_database(galera_cluster)
