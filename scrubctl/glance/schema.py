"""SQLAlchemy Core definitions of exactly the Glance columns scrubctl uses.

Declared, never reflected: they match Glance's schema from Train (``train_contract01``) to
``2024_1_contract01``, which are column-for-column identical for these tables. A test loads the
real MySQL and SQLite dumps and proves every column declared here exists with a compatible type.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

images = Table(
    "images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("size", BigInteger),
    Column("status", String(30), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    Column("deleted_at", DateTime),
    Column("deleted", Boolean, nullable=False),
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

image_locations = Table(
    "image_locations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), nullable=False),
    Column("value", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    Column("deleted_at", DateTime),
    Column("deleted", Boolean, nullable=False),
    Column("meta_data", Text),
    Column("status", String(30), nullable=False),
)

image_properties = Table(
    "image_properties",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), nullable=False),
    Column("name", String(255), nullable=False),
    Column("value", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    Column("deleted_at", DateTime),
    Column("deleted", Boolean, nullable=False),
)

image_tags = Table(
    "image_tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), nullable=False),
    Column("value", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    Column("deleted_at", DateTime),
    Column("deleted", Boolean, nullable=False),
)

image_members = Table(
    "image_members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), nullable=False),
    Column("member", String(255), nullable=False),
    Column("can_share", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    Column("deleted_at", DateTime),
    Column("deleted", Boolean, nullable=False),
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
