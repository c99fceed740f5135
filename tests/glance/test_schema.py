"""The declared columns exist, with compatible types, in the real dumps loaded into real databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, create_engine

from scrubctl.glance.bootstrap import SCHEMA_REVISION
from scrubctl.glance.database import GlanceDatabase
from scrubctl.glance.schema import REQUIRED_TABLES, alembic_version
from scrubctl.settings.secrets import Secret
from tests.support.world import GlanceWorld

COMPATIBLE = {
    Boolean: ("BOOLEAN", "TINYINT"),
    BigInteger: ("BIGINT", "INTEGER"),  # SQLite declares images.size INTEGER (64-bit there)
    Integer: ("INTEGER", "INT"),
    Text: ("TEXT",),  # before String: Text is a String
    String: ("VARCHAR", "ENUM"),
    DateTime: ("DATETIME",),
}


def type_name(column_type: object) -> str:
    return column_type.__class__.__name__.upper().replace("MYSQL_", "")


def test_every_declared_column_exists_with_a_compatible_type(world: GlanceWorld) -> None:
    inspector = sqlalchemy.inspect(world.engine)
    for table in (*REQUIRED_TABLES, alembic_version):
        actual = {column["name"]: column for column in inspector.get_columns(table.name)}
        for column in table.columns:
            assert column.name in actual, f"{table.name}.{column.name} missing from the {world.kind} dump"
            real = actual[column.name]
            expected_kind = next(kind for kind in COMPATIBLE if isinstance(column.type, kind))
            assert type_name(real["type"]) in COMPATIBLE[expected_kind], (table.name, column.name, real["type"])
            if type_name(real["type"]) == "VARCHAR":
                assert real["type"].length == column.type.length, (table.name, column.name)
            assert bool(real["nullable"]) == bool(column.nullable) or column.primary_key, (table.name, column.name)


def test_verify_reports_the_revision(world: GlanceWorld) -> None:
    assert GlanceDatabase(Secret(world.url)).verify() == SCHEMA_REVISION


def test_unknown_revisions_are_accepted(world: GlanceWorld) -> None:
    with world.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'train_contract01'")
    assert GlanceDatabase(Secret(world.url)).verify() == "train_contract01"


def test_a_database_that_is_not_glance_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE images (id VARCHAR(36) PRIMARY KEY, name TEXT)")
    from tests.support.world import invoke

    result = invoke(["--db-url", f"sqlite:///{path}", "list-pending"])
    assert result.exit_code == 3
    assert "not a Glance database" in result.stderr
    assert "image_locations" in result.stderr
    (tmp_path / "empty.sqlite").touch()  # an empty SQLite database (scrubctl never creates one)
    empty = invoke(["--db-url", f"sqlite:///{tmp_path / 'empty.sqlite'}", "list-pending"])
    assert empty.exit_code == 3
    assert "missing table(s) images, image_locations" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("column", ["status", "deleted_at"])
def test_a_missing_column_is_named(tmp_path: Path, column: str) -> None:
    from scrubctl.glance.bootstrap import create_sqlite_database
    from tests.support.world import invoke

    path = tmp_path / "glance.sqlite"
    create_sqlite_database(path)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE images DROP COLUMN {column}")
    result = invoke(["--db-url", f"sqlite:///{path}", "list-pending"])
    assert result.exit_code == 3
    assert f"images.{column}" in result.stderr
