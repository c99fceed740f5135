"""Claims on SQLite and MariaDB: one holder at a time, expiry, release, nothing written by a dry run,
and the real Glance (33.0.0) undisturbed by scrubctl's claims table."""

from __future__ import annotations

import subprocess
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from scrubctl.coordination.claims import TABLE_NAME, ClaimSession, ensure_claims_table
from scrubctl.glance.database import GlanceDatabase
from scrubctl.glance.topology import read_topology
from scrubctl.settings.secrets import Secret
from tests.conftest import mariadb_database
from tests.support import glance_reference
from tests.support.world import GlanceWorld


def claim_rows(world: GlanceWorld) -> list[tuple[str, str]]:
    with world.engine.connect() as connection:
        if TABLE_NAME not in inspect(connection).get_table_names():
            return []
        return [(str(a), str(b)) for a, b in connection.exec_driver_sql(f"SELECT subject, holder FROM {TABLE_NAME}")]


def test_one_holder_at_a_time_and_release_frees(world: GlanceWorld) -> None:
    first, second = world.image(), world.image()
    with (
        ClaimSession(world.engine, purpose="scrub") as one,
        ClaimSession(world.engine, purpose="restore") as other,
        world.engine.connect() as a,
        world.engine.connect() as b,
    ):
        assert one.take(a, [first, second]) == {first, second}
        assert other.take(b, [first, second]) == set()
        assert sorted(claim_rows(world)) == sorted([(first, one.holder), (second, one.holder)])
        other.release(b, [first])  # not its claim: nothing happens
        assert other.take(b, [first]) == set()
        one.release(a, [first])
        assert other.take(b, [first, second]) == {first}
        assert one.may_erase(second) and not one.may_erase(first) and other.may_erase(first)
    assert claim_rows(world) == []  # closing a session releases what it still held


def test_an_expired_claim_is_taken_over_and_a_live_one_is_renewed(world: GlanceWorld) -> None:
    image, kept = world.image(), world.image()
    dead = ClaimSession(world.engine, purpose="scrub", timeout_seconds=1, holder="gone:1:0")
    dead.start()
    with world.engine.connect() as connection:
        assert dead.take(connection, [image]) == {image}
    dead._stopped.set()  # a process that died: no heartbeat, no release
    with ClaimSession(world.engine, purpose="scrub", timeout_seconds=1) as live, world.engine.connect() as connection:
        assert live.take(connection, [kept]) == {kept}
        time.sleep(1.6)  # longer than the timeout: only the heartbeat keeps ``kept``
        with ClaimSession(world.engine, purpose="restore") as newcomer:
            assert newcomer.take(connection, [image, kept]) == {image}
        assert live.may_erase(kept)
        assert (kept, live.holder) in claim_rows(world)


def test_a_claim_that_could_not_be_renewed_stops_erasing(world: GlanceWorld) -> None:
    image = world.image()
    session = ClaimSession(world.engine, purpose="scrub", timeout_seconds=1)
    session.start()
    session._stopped.set()  # the heartbeat stops, as when the database cannot be reached
    with world.engine.connect() as connection:
        assert session.take(connection, [image]) == {image}
        assert session.may_erase(image)
        time.sleep(0.6)  # past half the timeout since the last known renewal
        assert not session.may_erase(image)
        session.release(connection, [image])


def test_dry_runs_write_no_claims(world: GlanceWorld) -> None:
    image = world.image()
    assert world.cli("scrub", "--dry-run", "-f", "json").exit_code == 0
    assert world.cli("restore", "--dry-run", image).exit_code == 0
    with world.engine.connect() as connection:
        assert TABLE_NAME not in inspect(connection).get_table_names()


def test_scrub_releases_its_claims(world: GlanceWorld) -> None:
    images = [world.image() for _ in range(5)]
    assert world.cli("scrub", "--yes", "-f", "json").exit_code == 0
    assert {world.status(image) for image in images} == {"deleted"}
    assert claim_rows(world) == []


@pytest.fixture
def glance_made_database() -> Iterator[str]:
    """An empty MariaDB database (the schema is for ``glance-manage db sync`` to create)."""
    yield from mariadb_database(with_schema=False)


GLANCE_DB_API_PROBE = textwrap.dedent(
    """
    import sys
    from oslo_config import cfg
    import glance.context
    from glance.db.sqlalchemy import api
    cfg.CONF(["--config-file", sys.argv[1]], project="glance")
    context = glance.context.RequestContext(is_admin=True)
    image = api.image_create(context, {"status": "queued", "name": "probe", "visibility": "private",
                                       "min_disk": 0, "min_ram": 0, "protected": False, "os_hidden": False})
    api.image_update(context, image["id"], {"status": "active", "size": 1,
                     "locations": [{"url": "file:///nonexistent/probe", "metadata": {}, "status": "active"}]})
    listed = [each["id"] for each in api.image_get_all(context)]
    assert image["id"] in listed, listed
    api.image_destroy(context, image["id"])
    print("glance db api ok", len(listed))
    """
)


@pytest.mark.mariadb
def test_glance_is_undisturbed_by_the_claims_table(
    real_glance: glance_reference.GlanceInstall, glance_made_database: str, tmp_path: Path
) -> None:
    manage = real_glance.venv_dir / "bin" / "glance-manage"
    config = tmp_path / "glance-manage.conf"
    config.write_text(f"[database]\nconnection = {glance_made_database}\n", encoding="utf-8")

    def glance(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(manage), "--config-file", str(config), *args], capture_output=True, text=True, timeout=300, check=False
        )

    synced = glance("db", "sync")
    assert synced.returncode == 0, synced.stderr[-2000:]
    engine = create_engine(glance_made_database)
    world = GlanceWorld(kind="mariadb", url=glance_made_database, engine=engine, root=tmp_path)
    try:
        scrubbed = world.image(deleted_ago=timedelta(days=40))
        assert world.cli("scrub", "--yes", "--image", scrubbed).exit_code == 0  # creates the claims table
        held = world.image()
        with ClaimSession(engine, purpose="scrub", holder="controller-2:4242:beef") as session:
            with engine.connect() as connection:
                assert session.take(connection, [held]) == {held}
            for args in (("db", "sync"), ("db", "check"), ("db", "purge", "--age_in_days", "30")):
                done = glance(*args)
                assert done.returncode == 0, (args, done.stdout[-1000:], done.stderr[-2000:])
            assert "up to date" in glance("db", "check").stdout
            probe = subprocess.run(
                [str(real_glance.python), "-c", GLANCE_DB_API_PROBE, str(config)],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert probe.returncode == 0 and "glance db api ok" in probe.stdout, probe.stderr[-2000:]
            assert claim_rows(world) == [(held, "controller-2:4242:beef")]  # Glance left scrubctl's rows alone
        assert world.status(held) == "pending_delete"
    finally:
        engine.dispose()


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_mysql_wsrep_sync_wait_is_honoured_and_a_single_server_is_left_alone(world: GlanceWorld) -> None:
    for configured, expected in ((None, 0), (3, 3)):
        database = GlanceDatabase(Secret(world.url), wsrep_sync_wait=configured)
        try:
            with database.connect() as connection:
                assert connection.exec_driver_sql("SELECT @@SESSION.wsrep_sync_wait").scalar() == expected
                assert read_topology(connection).kind == "single server"
        finally:
            database.dispose()
    world.extra_config = "\n[database]\nmysql_wsrep_sync_wait = 16\n"
    result = world.cli("list-pending")
    assert result.exit_code == 3 and "mysql_wsrep_sync_wait must be a number from 0 to 15" in result.stderr


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
def test_a_user_without_create_scrubs_once_the_claims_table_exists(world: GlanceWorld) -> None:
    """scrubctl looks for its table before creating it: a database user that may only read and
    write rows scrubs once the table is there, and is told what it lacks while it is not."""
    database = world.url.rsplit("/", 1)[1]
    user, password = f"rw_{database[-12:]}", "rows-only-pw"
    with world.engine.begin() as connection:
        # ('%%': a literal percent sign, the driver formats the statement)
        connection.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY '{password}'")
        connection.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {database}.* TO '{user}'@'%%'")
    limited = world.url.replace("root@", f"{user}:{password}@", 1)
    try:
        first = world.image(deleted_ago=timedelta(days=10))
        refused = world.cli("--db-url", limited, "scrub", "--yes")
        assert refused.exit_code == 3
        assert "needs CREATE" in refused.stderr and password not in refused.stdout + refused.stderr
        assert world.data_file(first).exists()
        with world.engine.connect() as connection:
            ensure_claims_table(connection)
        done = world.cli("--db-url", limited, "scrub", "--yes", "-f", "json")
        assert done.exit_code == 0, done.stderr
        assert not world.data_file(first).exists()
        assert claim_rows(world) == []
    finally:
        with world.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")


def test_the_claims_table_is_made_by_the_first_claim_not_by_a_run_that_claims_nothing(world: GlanceWorld) -> None:
    def has_table() -> bool:
        with world.engine.connect() as connection:
            return TABLE_NAME in inspect(connection).get_table_names()

    image = world.image()
    missing_folder = world.root / "missing" / "scrubctl.prom"
    assert world.cli("scrub", "--yes", "--metrics-file", str(missing_folder)).exit_code == 3
    assert world.cli("scrub", "--dry-run").exit_code == 0
    assert world.cli("broken", "--repair", "6f1c3a8e-5d2b-4c77-9a0e-2b8f0d3c4e51").exit_code == 1
    assert not has_table()
    assert world.data_file(image).exists()
    assert world.cli("scrub", "--yes").exit_code == 0
    assert has_table()
    assert claim_rows(world) == []
