"""Glance's image cache as its ``centralized_db`` driver (2024.1 and later) records it: each glance-api
node's cached copies in ``cached_images``, each node in ``node_reference``.

A node is named by its ``[DEFAULT] worker_self_reference_url`` (recorded in ``node_reference`` when its
cache starts); a copy is a file ``<image_cache_dir>/<image id>`` on that node, with a row
``cached_images(image_id, node_reference_id, size, hits, ...)`` written when the copy is complete.
Failed caching leaves files in ``incomplete/`` and ``invalid/``; ``queue/`` holds empty files naming
images to cache. Deleting an image removes the copy and the row of the node that served the DELETE
only. Declared apart from :mod:`scrubctl.glance.schema`: releases before 2024.1 have neither table,
and scrubctl still opens their databases.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    inspect,
    select,
)

metadata = MetaData()

node_reference = Table(
    "node_reference",
    metadata,
    Column("node_reference_id", BigInteger, primary_key=True),
    Column("node_reference_url", String(255), nullable=False),
)

cached_images = Table(
    "cached_images",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("image_id", String(36), nullable=False),
    Column("last_accessed", DateTime, nullable=False),
    Column("last_modified", DateTime, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("hits", Integer, nullable=False),
    Column("checksum", String(32)),
    Column("node_reference_id", BigInteger, nullable=False),
)

CACHE_DIR_OPTION = "image_cache_dir"
NODE_OPTION = "worker_self_reference_url"
CHUNK = 1000


def has_cache_tables(connection: Connection) -> bool:
    """Whether the database has both tables (Glance 2024.1 and later)."""
    names = set(inspect(connection).get_table_names())
    return {"cached_images", "node_reference"} <= names


def node_id(connection: Connection, url: str) -> int | None:
    """The ``node_reference_id`` of the node whose ``worker_self_reference_url`` is ``url``."""
    found = connection.execute(
        select(node_reference.c.node_reference_id).where(node_reference.c.node_reference_url == url)
    ).scalar()
    return None if found is None else int(found)


def cached_ids(connection: Connection, node: int, image_ids: Iterable[str]) -> set[str]:
    """Which of ``image_ids`` have a ``cached_images`` row of this node."""
    wanted = sorted(set(image_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        statement = select(cached_images.c.image_id).where(
            cached_images.c.node_reference_id == node, cached_images.c.image_id.in_(wanted[start : start + CHUNK])
        )
        found.update(str(image_id) for image_id in connection.execute(statement).scalars())
    return found


def forget_cached(connection: Connection, node: int, image_id: str) -> int:
    """Delete this node's row of one cached copy (as the driver does when it removes the copy)."""
    statement = delete(cached_images).where(
        cached_images.c.node_reference_id == node, cached_images.c.image_id == image_id
    )
    return int(connection.execute(statement).rowcount or 0)
