"""The database server seam (scrubctl.glance.servers) on a real SQLite file and the real MariaDB:
the claims table made from its declaration, the clock claims are dated with, index inspection,
read-only sessions, how real errors are told apart, and servers refused in one line."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, create_mock_engine, false, inspect, select, text, update
from sqlalchemy.exc import DBAPIError

from scrubctl.coordination.claims import TABLE_NAME, ClaimSession, claims_table, ensure_claims_table
from scrubctl.errors import ConfigError
from scrubctl.glance.database import GlanceDatabase
from scrubctl.glance.opening import open_database
from scrubctl.glance.schema import images
from scrubctl.glance.servers import KINDS, is_conflict, is_unreachable, server_kind
from scrubctl.settings.secrets import Secret
from scrubctl.settings.utc import utc_now
from tests.support.world import GlanceWorld

# What scrubctl wrote by hand before the table was made from its declaration (the reference the
# generated table must match), with the table's name left to fill in.
REFERENCE_DDL = {
    "mysql": (
        """CREATE TABLE {name} (
            subject VARCHAR(64) NOT NULL,
            holder VARCHAR(128) NOT NULL,
            purpose VARCHAR(16) NOT NULL,
            claimed_at DATETIME(6) NOT NULL,
            expires_at DATETIME(6) NOT NULL,
            PRIMARY KEY (subject),
            KEY ix_{name}_holder (holder)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='scrubctl: images held by running scrubctl processes'""",
    ),
    "sqlite": (
        "CREATE TABLE {name} (subject VARCHAR(64) NOT NULL PRIMARY KEY, holder VARCHAR(128) NOT NULL, "
        "purpose VARCHAR(16) NOT NULL, claimed_at DATETIME NOT NULL, expires_at DATETIME NOT NULL)",
        "CREATE INDEX ix_{name}_holder ON {name} (holder)",
    ),
}
REFERENCE = "reference_claims"


def table_shape(connection: Connection, name: str) -> dict[str, Any]:
    """What the server says of a table, its own name written as ``TABLE``."""
    inspector = inspect(connection)
    shape: dict[str, Any] = {
        "columns": [
            (column["name"], str(column["type"]), column["nullable"]) for column in inspector.get_columns(name)
        ],
        "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
        "indexes": sorted(
            (index["name"].replace(name, "TABLE"), tuple(index["column_names"]), bool(index["unique"]))
            for index in inspector.get_indexes(name)
        ),
    }
    if connection.dialect.name == "mysql":
        created = connection.exec_driver_sql(f"SHOW CREATE TABLE {name}").one()[1]
        shape["statement"] = created.replace(name, "TABLE")
    return shape


def test_the_claims_table_made_from_its_declaration_is_the_one_written_by_hand_before(world: GlanceWorld) -> None:
    with world.engine.connect() as connection:
        ensure_claims_table(connection)
        ensure_claims_table(connection)  # there already: nothing happens
        for statement in REFERENCE_DDL[connection.dialect.name]:
            connection.exec_driver_sql(statement.format(name=REFERENCE))
        connection.commit()
        made, reference = table_shape(connection, TABLE_NAME), table_shape(connection, REFERENCE)
    assert made == reference
    assert ("ix_TABLE_holder", ("holder",), False) in made["indexes"]
    if world.kind == "mariadb":
        assert "`claimed_at` datetime(6) NOT NULL" in made["statement"]
        assert "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" in made["statement"]


def test_a_second_run_creating_the_table_at_the_same_moment_finds_it_made(world: GlanceWorld) -> None:
    with world.engine.connect() as first, world.engine.connect() as second:
        server_kind(first).create_table(first, claims_table)
        first.commit()
        server_kind(second).create_table(second, claims_table)  # it was not there when this run looked
        second.commit()
        assert server_kind(second).has_index(second, TABLE_NAME, f"ix_{TABLE_NAME}_holder")


def claim_times(connection: Connection, subject: str) -> tuple[datetime, datetime]:
    row = connection.execute(
        select(claims_table.c.claimed_at, claims_table.c.expires_at).where(claims_table.c.subject == subject)
    ).one()
    connection.rollback()
    return row[0], row[1]


def test_claims_are_dated_by_the_servers_clock(world: GlanceWorld) -> None:
    """MariaDB: a session whose clock runs two hours late dates its claims two hours back, and sees
    a claim taken a minute ago by the real clock as not yet expired; SQLite: this machine's clock."""
    subject, other = str(uuid.uuid4()), str(uuid.uuid4())
    with (
        ClaimSession(world.engine, purpose="scrub", timeout_seconds=60) as held,
        ClaimSession(world.engine, purpose="scrub", timeout_seconds=30) as late,
        world.engine.connect() as connection,
        world.engine.connect() as late_connection,
    ):
        assert held.take(connection, [subject]) == {subject}
        claimed, expires = claim_times(connection, subject)
        assert expires - claimed == timedelta(seconds=60)
        if world.kind == "sqlite":
            assert abs(claimed - utc_now()) < timedelta(seconds=5)
            return
        server_now = connection.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar()
        assert abs(claimed - server_now) < timedelta(seconds=5) and claimed.microsecond != 0
        late_connection.exec_driver_sql("SET timestamp = UNIX_TIMESTAMP() - 7200")
        late_connection.commit()
        assert late.take(late_connection, [other]) == {other}
        late_claimed, _ = claim_times(connection, other)
        assert timedelta(hours=1, minutes=59) < server_now - late_claimed < timedelta(hours=2, minutes=1)
        late_connection.exec_driver_sql("SET timestamp = DEFAULT")
        late_connection.exec_driver_sql("SET timestamp = UNIX_TIMESTAMP() + 7200")
        late_connection.commit()
        assert late.take(late_connection, [subject]) == {subject}  # expired, by this session's clock
        late_connection.exec_driver_sql("SET timestamp = DEFAULT")


def test_index_inspection_and_hints(world: GlanceWorld) -> None:
    with world.engine.connect() as connection:
        kind = server_kind(connection)
        assert kind.has_index(connection, "images", "ix_images_deleted")
        assert not kind.has_index(connection, "images", "ix_images_no_such_index")
        assert not kind.has_index(connection, "image_locations", "ix_images_deleted")
        statement = select(images.c.id).where(images.c.deleted == false())
        hinted = kind.with_index_hint(connection, statement, images, "ix_images_deleted")
        assert ("FORCE INDEX (ix_images_deleted)" in str(hinted.compile(connection))) == (world.kind == "mariadb")
        assert connection.execute(hinted).all() == []  # the server takes the hint
        unhinted = kind.with_index_hint(connection, statement, images, "ix_images_no_such_index")
        assert "FORCE INDEX" not in str(unhinted.compile(connection))


def test_a_read_only_database_refuses_a_write(world: GlanceWorld) -> None:
    image = world.image(deleted_ago=None)
    database = open_database(Secret(world.url), read_only=True)
    try:
        with database.connect() as connection:
            assert connection.execute(select(images.c.status).where(images.c.id == image)).scalar() == "active"
            with pytest.raises(DBAPIError) as refused:
                connection.execute(update(images).where(images.c.id == image).values(name="changed"))
                connection.commit()
            connection.rollback()
    finally:
        database.dispose()
    assert "read" in str(refused.value.orig).lower()  # "readonly database", "READ ONLY transaction"
    assert not is_conflict(refused.value) and not is_unreachable(refused.value)
    assert world.rows("images", image)[0]["name"] != "changed"


@pytest.fixture
def mariadb_engine(world: GlanceWorld) -> Iterator[Engine]:
    if world.kind != "mariadb":
        pytest.skip("errors of a MariaDB server")
    yield world.engine


def failure_of(connection: Connection, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as failed:
        connection.exec_driver_sql(statement)
    connection.rollback()
    return failed.value


def test_a_real_deadlock_and_lock_wait_are_conflicts(mariadb_engine: Engine, world: GlanceWorld) -> None:
    first_image, second_image = world.image(), world.image()
    kind = server_kind(mariadb_engine)
    update_name = "UPDATE images SET name = 'x' WHERE id = '{}'"
    with mariadb_engine.connect() as one, mariadb_engine.connect() as two:
        two.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
        one.exec_driver_sql(update_name.format(first_image))
        waited = failure_of(two, update_name.format(first_image))
        assert kind.error_code(waited) == 1205 and kind.is_conflict(waited) and not kind.is_unreachable(waited)
        two.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 20")
        two.exec_driver_sql(update_name.format(second_image))
        errors: list[BaseException] = []

        def blocked() -> None:
            try:
                one.exec_driver_sql(update_name.format(second_image))
            except DBAPIError as error:
                errors.append(error)

        waiter = threading.Thread(target=blocked)
        waiter.start()
        try:
            two.exec_driver_sql(update_name.format(first_image))
        except DBAPIError as error:
            errors.append(error)
        waiter.join(timeout=30)
        one.rollback()
        two.rollback()
    assert len(errors) == 1, errors
    assert kind.error_code(errors[0]) == 1213 and kind.is_conflict(errors[0]) and is_conflict(errors[0])


def test_a_duplicate_key_and_a_server_gone_are_told_apart(mariadb_engine: Engine) -> None:
    kind = server_kind(mariadb_engine)
    with mariadb_engine.connect() as connection:
        ensure_claims_table(connection)
        insert = f"INSERT INTO {TABLE_NAME} VALUES ('same', 'h', 'scrub', UTC_TIMESTAMP(), UTC_TIMESTAMP())"
        connection.exec_driver_sql(insert)
        duplicate = failure_of(connection, insert)
    assert kind.is_duplicate_key(duplicate) and not kind.is_conflict(duplicate) and not is_unreachable(duplicate)
    nobody = create_engine("mysql+pymysql://root@127.0.0.1:1/", connect_args={"connect_timeout": 2})
    with pytest.raises(DBAPIError) as gone:
        nobody.connect()
    assert kind.is_unreachable(gone.value) and is_unreachable(gone.value) and not kind.is_conflict(gone.value)


def test_a_sqlite_file_locked_too_long_is_neither_a_conflict_nor_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    holder = create_engine(f"sqlite:///{path}")
    waiter = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.commit()
    with holder.connect() as connection, waiter.connect() as other:
        connection.exec_driver_sql("BEGIN EXCLUSIVE")
        with pytest.raises(DBAPIError) as locked:
            other.execute(text("SELECT * FROM t")).all()
        connection.rollback()
    kind = server_kind(waiter)
    assert not kind.is_conflict(locked.value) and not kind.is_unreachable(locked.value)
    assert "locked by another process" in str(kind.busy_message(locked.value))


@pytest.mark.parametrize(
    ("url", "server"),
    [("postgresql://glance:hunter22@db/glance", "PostgreSQL"), ("oracle://glance:hunter22@db/glance", "Oracle")],
)
def test_a_server_of_another_kind_is_refused_in_one_line(url: str, server: str) -> None:
    with pytest.raises(ConfigError) as refused:
        server_kind(create_mock_engine(url, lambda *_arguments, **_keywords: None))
    message = str(refused.value)
    assert message == (
        f"database server: {server} is not supported; "
        "scrubctl supports MySQL and MariaDB (mysql://) and SQLite (sqlite:///PATH)"
    )
    with pytest.raises(ConfigError) as opened:
        GlanceDatabase(Secret(url))
    assert len(str(opened.value).splitlines()) == 1 and "hunter22" not in str(opened.value)
    assert f"{server} is not supported" in str(opened.value)
    assert sorted(KINDS) == ["mysql", "sqlite"]
