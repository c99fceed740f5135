"""SQLAlchemy Core definitions of exactly the Glance columns scrubctl uses.

Declared, never reflected: they match Glance's schema from Train (``train_contract01``) to
``2024_1_contract01``, which are column-for-column identical for these tables. A test loads the
real MySQL and SQLite dumps and proves every column declared here exists with a compatible type.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()


def _glance_base_columns() -> tuple[Column[Any], ...]:
    """The columns every Glance model inherits from its base (``GlanceBase``): when the row was created,
    last updated and soft-deleted, and whether it is deleted. New columns each time: a column belongs
    to one table."""
    return (
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime),
        Column("deleted_at", DateTime),
        Column("deleted", Boolean, nullable=False),
    )


def _image_rows_table(name: str, *columns: Column[Any]) -> Table:
    """A table of rows that belong to one image (Glance's locations, properties, tags and members):
    the row's own id and the image's, then ``columns``."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("image_id", String(36), nullable=False),
        *columns,
    )


images = Table(
    "images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("size", BigInteger),
    Column("status", String(30), nullable=False),
    *_glance_base_columns(),
    Column("disk_format", String(20)),
    Column("container_format", String(20)),
    Column("checksum", String(32)),
    Column("owner", String(255)),
    Column("min_disk", Integer, nullable=False),
    Column("min_ram", Integer, nullable=False),
    Column("protected", Boolean, nullable=False),
    Column("virtual_size", BigInteger),
    Column("visibility", String(9), nullable=False),
    Column("os_hidden", Boolean, nullable=False),
    Column("os_hash_algo", String(64)),
    Column("os_hash_value", String(128)),
)

image_locations = _image_rows_table(
    "image_locations",
    Column("value", Text, nullable=False),
    *_glance_base_columns(),
    Column("meta_data", Text),
    Column("status", String(30), nullable=False),
)

image_properties = _image_rows_table(
    "image_properties",
    Column("name", String(255), nullable=False),
    Column("value", Text),
    *_glance_base_columns(),
)

image_tags = _image_rows_table(
    "image_tags",
    Column("value", String(255), nullable=False),
    *_glance_base_columns(),
)

image_members = _image_rows_table(
    "image_members",
    Column("member", String(255), nullable=False),
    Column("can_share", Boolean, nullable=False),
    *_glance_base_columns(),
    Column("status", String(20), nullable=False),
)

alembic_version = Table(
    "alembic_version",
    metadata,
    Column("version_num", String(32), primary_key=True),
)

# Tables without which scrubctl refuses to run; alembic_version is only reported.
REQUIRED_TABLES = (images, image_locations, image_properties, image_tags, image_members)

PENDING_DELETE = "pending_delete"
DELETED = "deleted"
ACTIVE = "active"
