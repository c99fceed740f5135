"""The Galera tier is a real multi-master cluster: what later tests rely on, checked on it.

Replication with causal reads, node-local named locks, certification conflicts at COMMIT (1213), and
a killed node rejoining.
"""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from tests.support.galera import GaleraCluster, GaleraDatabase

pytestmark = pytest.mark.galera

INSERT_IMAGE = text(
    "INSERT INTO images (id, name, status, created_at, deleted, min_disk, min_ram, visibility)"
    " VALUES (:id, :name, 'active', UTC_TIMESTAMP(), 0, 0, 0, 'private')"
)


def insert_image(connection: Connection, image_id: str, name: str = "galera") -> None:
    connection.execute(INSERT_IMAGE, {"id": image_id, "name": name})


def image_names(connection: Connection, image_id: str) -> list[str]:
    return list(connection.execute(text("SELECT name FROM images WHERE id = :id"), {"id": image_id}).scalars())


def test_schema_is_on_every_node(galera_database: GaleraDatabase) -> None:
    assert len(galera_database.urls) == 3
    assert len(set(galera_database.urls)) == 3
    for node in (1, 2, 3):
        with galera_database.engine(node).connect() as connection:
            assert connection.exec_driver_sql("SELECT @@wsrep_on").scalar_one() == 1
            assert connection.exec_driver_sql("SELECT COUNT(*) FROM images").scalar_one() == 0


def test_row_written_on_node_1_is_read_on_node_3(galera_database: GaleraDatabase) -> None:
    image = str(uuid.uuid4())
    with galera_database.engine(1).begin() as connection:
        insert_image(connection, image)
    with galera_database.engine(3).connect() as connection:
        connection.exec_driver_sql("SET SESSION wsrep_sync_wait = 1")
        assert image_names(connection, image) == ["galera"]


def test_named_locks_are_node_local(galera_database: GaleraDatabase) -> None:
    lock = f"scrubctl-test-{uuid.uuid4().hex}"
    get_lock = text("SELECT GET_LOCK(:lock, 0)")
    with galera_database.engine(1).connect() as holder:
        assert holder.execute(get_lock, {"lock": lock}).scalar_one() == 1
        with galera_database.engine(1).connect() as same_node:
            assert same_node.execute(get_lock, {"lock": lock}).scalar_one() == 0
        with galera_database.engine(2).connect() as other_node:
            assert other_node.execute(get_lock, {"lock": lock}).scalar_one() == 1
            other_node.execute(text("SELECT RELEASE_LOCK(:lock)"), {"lock": lock})
        holder.execute(text("SELECT RELEASE_LOCK(:lock)"), {"lock": lock})


def test_same_primary_key_on_two_nodes_second_commit_fails(galera_database: GaleraDatabase) -> None:
    image = str(uuid.uuid4())
    with galera_database.engine(1).connect() as first, galera_database.engine(2).connect() as second:
        first.begin()
        second.begin()
        insert_image(first, image, "first")
        insert_image(second, image, "second")  # both succeed: nothing is locked across nodes
        first.commit()
        with pytest.raises(OperationalError) as raised:
            second.commit()
        assert raised.value.orig is not None
        assert raised.value.orig.args[0] == 1213, raised.value
        second.rollback()
    for node in (1, 2, 3):
        with galera_database.engine(node).connect() as connection:
            connection.exec_driver_sql("SET SESSION wsrep_sync_wait = 1")
            assert image_names(connection, image) == ["first"]


def test_killed_node_leaves_and_rejoins(galera_cluster: GaleraCluster, galera_database: GaleraDatabase) -> None:
    galera_cluster.kill_node(3)
    try:
        assert galera_cluster.pid(3) is None
        galera_cluster.wait_cluster_size(2, [1, 2], timeout=30)
        image = str(uuid.uuid4())
        with galera_database.engine(1).begin() as connection:  # written while node 3 is down
            insert_image(connection, image)
    finally:
        started = time.monotonic()
        galera_cluster.start_node(3)
    assert time.monotonic() - started < 60
    assert [galera_cluster.cluster_size(node) for node in (1, 2, 3)] == [3, 3, 3]
    assert galera_cluster.status(3)["wsrep_local_state_comment"] == "Synced"
    with galera_database.engine(3).connect() as connection:
        connection.exec_driver_sql("SET SESSION wsrep_sync_wait = 1")
        assert image_names(connection, image) == ["galera"]
