"""Creating an empty Glance database from the real schema dumps shipped with scrubctl.

The dumps were taken right after ``glance-manage db sync`` (Glance 33.0.0, head
``2024_1_contract01``) on MariaDB and SQLite. Used by ``scrubctl sandbox``, the tests and the
benchmarks; never on a production database.
"""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from sqlalchemy import Connection, text

SCHEMA_REVISION = "2024_1_contract01"


def schema_sql(dialect: str) -> str:
    """Return the real Glance schema dump for ``sqlite`` or ``mysql``."""
    return resources.files("scrubctl.glance").joinpath(f"sql/schema-{dialect}.sql").read_text(encoding="utf-8")


def create_sqlite_database(path: Path, revision: str = SCHEMA_REVISION) -> None:
    """Create a SQLite Glance database with the real schema at ``path``."""
    with sqlite3.connect(path) as connection:
        connection.executescript(schema_sql("sqlite"))
        connection.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (revision,))
    connection.close()


def load_mysql_schema(connection: Connection, revision: str = SCHEMA_REVISION) -> None:
    """Load the real MariaDB dump into the (empty) database ``connection`` uses."""
    for statement in mysql_statements(schema_sql("mysql")):
        connection.exec_driver_sql(statement)
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:revision)"), {"revision": revision})


def mysql_statements(dump: str) -> list[str]:
    """Split a mysqldump file into statements (each ends with ``;`` at the end of a line)."""
    statements: list[str] = []
    current: list[str] = []
    for line in dump.splitlines():
        if not current and (not line.strip() or line.startswith("--")):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";")
            current = []
            if statement:
                statements.append(statement)
    return statements
