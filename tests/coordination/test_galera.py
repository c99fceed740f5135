"""scrub and restore on a real 3-node MariaDB Galera cluster: claims hold across nodes, certification
conflicts are lost races (never outages), reads are causal, and a node dying mid-run loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError

from scrubctl.coordination.conflicts import is_conflict, is_unreachable, run_transaction
from scrubctl.glance.database import GlanceDatabase
from scrubctl.settings.secrets import Secret
from tests.restore.test_restore import race_round
from tests.support.outage_checks import assert_one_line
from tests.support.world import GlanceWorld
from tests.unattended.test_unattended import assert_consistent

pytestmark = [pytest.mark.galera, pytest.mark.slow]

CLAIM_TIMEOUT = 3  # seconds: short, so that a killed run's claims expire within the test


class ClusterWorld(GlanceWorld):
    """A Glance world on the cluster: rows written on node 1, one configuration file per node."""

    node_urls: tuple[str, ...] = ()

    def node_config(self, node: int) -> Path:
        """The glance-api.conf of a controller whose database connection goes to ``node`` (1-3)."""
        text = self.config_file.read_text(encoding="utf-8").replace(self.url, self.node_urls[node - 1])
        path = self.root / f"glance-api-node{node}.conf"
        path.write_text(text, encoding="utf-8")
        return path

    def node_env(self, node: int) -> dict[str, str]:
        """The environment of a scrubctl process on that controller."""
        return {**os.environ, "SCRUBCTL_CONFIG_FILE": str(self.node_config(node))}

    def spawn(self, node: int, *args: str) -> subprocess.Popen[str]:
        """Start scrubctl against ``node``."""
        return subprocess.Popen(
            [sys.executable, "-m", "scrubctl", *args],
            env=self.node_env(node),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def claims(self) -> list[tuple[str, str]]:
        """The rows of scrubctl's claims table (empty when it was never created)."""
        with self.engine.connect() as connection:
            exists = connection.exec_driver_sql("SHOW TABLES LIKE 'scrubctl_claims'").first()
            if exists is None:
                return []
            return [
                (str(a), str(b)) for a, b in connection.exec_driver_sql("SELECT subject, holder FROM scrubctl_claims")
            ]


@pytest.fixture
def cluster(galera_database: Any, tmp_path: Path) -> Iterator[ClusterWorld]:
    """A world whose checks read causally (wsrep_sync_wait) from node 1."""
    urls = tuple(galera_database.urls)
    engine = create_engine(urls[0], connect_args={"init_command": "SET SESSION wsrep_sync_wait = 1"})
    world = ClusterWorld(kind="galera", url=urls[0], engine=engine, root=tmp_path)
    world.node_urls = urls
    world.extra_config = f"\n[scrubctl]\nclaim_timeout = {CLAIM_TIMEOUT}\n"
    yield world
    engine.dispose()


def finished(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, dict[str, Any], str]:
    stdout, stderr = process.communicate(timeout=timeout)
    assert "Traceback" not in stderr, stderr
    return process.returncode, json.loads(stdout) if stdout.strip() else {}, stderr


def audited_erases(log: Path) -> set[int]:
    """The location ids the audit trail has an erase attempt for."""
    records = map(json.loads, log.read_text().splitlines() if log.exists() else [])
    return {record["location_id"] for record in records if record["action"] == "erase"}


def wait_for_erases(log: Path, count: int, process: subprocess.Popen[str]) -> None:
    """Return once the run has started ``count`` erases (so it is mid-run, holding claims)."""
    deadline = time.monotonic() + 60
    while len(audited_erases(log)) < count:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run started no erase within 60 s"
        time.sleep(0.01)


def test_three_nodes_scrub_each_image_exactly_once(cluster: ClusterWorld) -> None:
    images = [cluster.image(size=256) for _ in range(1500)]
    processes = [cluster.spawn(node, "scrub", "--yes", "-f", "json", "--concurrency", "4") for node in (1, 2, 3)]
    scrubbed: list[str] = []
    for process in processes:
        code, document, stderr = finished(process)
        assert code == 0, stderr
        assert document["summary"]["failed"] == 0 and document["summary"]["blocked"] == 0, document["summary"]
        scrubbed += [item["id"] for item in document["images"] if item["result"] == "scrubbed"]
    assert len(scrubbed) == 1500 and sorted(scrubbed) == sorted(images)  # each exactly once
    assert not any(cluster.data_file(image).exists() for image in images)
    assert {cluster.status(image) for image in images} == {"deleted"}
    assert cluster.claims() == []


def test_restore_on_one_node_racing_scrub_on_another(cluster: ClusterWorld) -> None:
    rounds = [[cluster.image(size=256) for _ in range(2)] for _ in range(100)]
    restore_env, scrub_env = cluster.node_env(1), cluster.node_env(2)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [
            pool.submit(race_round, cluster, restore_env, images, seed, scrub_env) for seed, images in enumerate(rounds)
        ]
        statuses = [status for future in futures for status in future.result()]
    outcomes = Counter(statuses)
    assert outcomes["active"] and outcomes["deleted"], outcomes  # both sides won some races


def test_a_killed_run_blocks_its_images_only_until_its_claims_expire(cluster: ClusterWorld, tmp_path: Path) -> None:
    images = [cluster.image(size=256) for _ in range(600)]
    log = tmp_path / "audit.jsonl"
    process = cluster.spawn(1, "scrub", "--yes", "-f", "json", "--concurrency", "2", "--audit-log", str(log))
    wait_for_erases(log, 30, process)
    process.kill()
    process.communicate(timeout=60)
    held = cluster.claims()
    audited = audited_erases(log)
    assert_consistent(cluster, audited)
    assert held, "the killed run held no claims: it was killed too late to test anything"
    time.sleep(CLAIM_TIMEOUT + 1)
    code, document, stderr = finished(cluster.spawn(2, "scrub", "--yes", "-f", "json", "--concurrency", "2"))
    assert code == 0, stderr
    assert document["summary"]["failed"] == 0
    assert {cluster.status(image) for image in images} == {"deleted"}
    assert not any(cluster.data_file(image).exists() for image in images)
    assert cluster.claims() == []


def server_check(cluster: ClusterWorld, node: int) -> tuple[int, str]:
    """Run ``scrubctl check`` against ``node``; return its exit code and its database-server line."""
    result = subprocess.run(
        [sys.executable, "-m", "scrubctl", "check"],
        env=cluster.node_env(node),
        capture_output=True,
        text=True,
        check=False,
    )
    line = next(
        (line for line in result.stdout.splitlines() if "database server" in line), result.stdout + result.stderr
    )
    return result.returncode, line


def test_check_reports_the_cluster_and_fails_on_a_node_not_synced(cluster: ClusterWorld) -> None:
    code, line = server_check(cluster, 2)
    assert code == 0, line
    assert line.startswith("ok") and "galera" in line and "3 node(s)" in line and "Synced" in line, line
    desync = create_engine(cluster.node_urls[1])
    with desync.connect() as connection:
        connection.exec_driver_sql("SET GLOBAL wsrep_desync = ON")
        try:
            code, line = server_check(cluster, 2)
        finally:
            connection.exec_driver_sql("SET GLOBAL wsrep_desync = OFF")
    desync.dispose()
    assert code == 3, line
    assert line.startswith("FAIL") and "not Synced" in line, line


def test_a_node_dying_mid_run_ends_it_with_exit_3_and_a_rerun_converges(
    cluster: ClusterWorld, galera_cluster: Any, tmp_path: Path
) -> None:
    images = [cluster.image(size=256) for _ in range(800)]
    log = tmp_path / "audit.jsonl"
    process = cluster.spawn(3, "scrub", "--yes", "-f", "json", "--concurrency", "2", "--audit-log", str(log))
    wait_for_erases(log, 30, process)
    try:
        galera_cluster.kill_node(3)
        killed = time.monotonic()
        code, document, stderr = finished(process, timeout=120)
        assert time.monotonic() - killed < 70  # within the socket timeout
        assert code == 3, stderr
        assert any("database" in problem for problem in document["summary"]["unreachable"]), document["summary"]
        audited = audited_erases(log)
        assert_consistent(cluster, audited)  # every erase the database did not record is in the audit trail
        time.sleep(CLAIM_TIMEOUT + 1)
        code, document, stderr = finished(cluster.spawn(1, "scrub", "--yes", "-f", "json", "--concurrency", "2"))
        assert code == 0, stderr
        assert document["summary"]["failed"] == 0
        assert {cluster.status(image) for image in images} == {"deleted"}
        assert not any(cluster.data_file(image).exists() for image in images)
        assert cluster.claims() == []
    finally:
        galera_cluster.start_node(3)


DATABASE_TIMEOUT = 3  # seconds: [scrubctl] database_timeout of the run on a frozen node


def test_a_node_frozen_mid_run_ends_it_within_one_timeout_and_another_node_converges(
    cluster: ClusterWorld, galera_cluster: Any, tmp_path: Path
) -> None:
    cluster.extra_config += f"database_timeout = {DATABASE_TIMEOUT}\n"
    images = [cluster.image(size=256) for _ in range(400)]
    log = tmp_path / "audit.jsonl"
    process = cluster.spawn(3, "scrub", "--yes", "-f", "json", "--concurrency", "2", "--audit-log", str(log))
    wait_for_erases(log, 30, process)
    process.send_signal(signal.SIGSTOP)  # held while the node freezes, so that it cannot end in between
    try:
        galera_cluster.freeze_node(3)
        process.send_signal(signal.SIGCONT)
        frozen = time.monotonic()
        stdout, stderr = process.communicate(timeout=DATABASE_TIMEOUT + 120)
        elapsed = time.monotonic() - frozen
    finally:
        galera_cluster.thaw_node(3)
    assert elapsed < DATABASE_TIMEOUT + 15, elapsed
    assert process.returncode == 3, stderr
    assert_one_line(stderr, "scrubctl: unreachable: database: ", f"no answer within {DATABASE_TIMEOUT} s")
    assert json.loads(stdout)["summary"]["scrubbed"] < len(images)
    assert_consistent(cluster, audited_erases(log))  # every erase the database did not record is in the audit trail
    galera_cluster.wait_cluster_size(3, timeout=120)
    time.sleep(CLAIM_TIMEOUT + 1)
    code, document, stderr = finished(cluster.spawn(1, "scrub", "--yes", "-f", "json", "--concurrency", "2"))
    assert code == 0, stderr
    assert document["summary"]["failed"] == 0
    assert {cluster.status(image) for image in images} == {"deleted"}
    assert not any(cluster.data_file(image).exists() for image in images)
    assert cluster.claims() == []


def test_a_transaction_another_node_won_is_run_again(cluster: ClusterWorld) -> None:
    image = cluster.image()
    rival = create_engine(cluster.node_urls[0])
    attempts: list[int] = []

    def rename(connection: Connection) -> int:
        attempts.append(1)
        changed = connection.execute(
            text("UPDATE images SET name = :name WHERE id = :id"), {"name": f"try-{len(attempts)}", "id": image}
        ).rowcount
        if len(attempts) == 1:  # another node commits a change to the same row first
            with rival.begin() as other:
                other.execute(text("UPDATE images SET name = 'rival' WHERE id = :id"), {"id": image})
        return int(changed)

    node2 = create_engine(cluster.node_urls[1], connect_args={"init_command": "SET SESSION wsrep_sync_wait = 1"})
    try:
        with node2.connect() as connection:
            assert run_transaction(connection, rename, what="rename") == 1
    finally:
        node2.dispose()
        rival.dispose()
    assert len(attempts) == 2  # the first COMMIT failed certification (1213) and was run again
    assert cluster.rows("images", image)[0]["name"] == "try-2"
    with pytest.raises(DBAPIError) as failure, cluster.engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1 FROM no_such_table")
    assert not is_conflict(failure.value) and not is_unreachable(failure.value)  # an error of its own kind


def test_sessions_on_a_galera_node_read_causally(cluster: ClusterWorld) -> None:
    database = GlanceDatabase(Secret(cluster.node_urls[2]))
    try:
        with database.connect() as connection:
            assert connection.exec_driver_sql("SELECT @@SESSION.wsrep_sync_wait").scalar() == 1
    finally:
        database.dispose()
