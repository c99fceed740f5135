"""A database server that stops answering ends a run within one socket timeout, with one line.

A server frozen with SIGSTOP keeps its connections open and answers nothing, as a hung VM, a
stalled disk or a network black hole does. ``scrub``, ``restore``, ``orphans --reclaim`` and
``broken --repair``, with the server frozen mid-run, exit 3 within the socket timeout and a margin,
say so in one line, print no traceback, and change nothing they could not record; once the server
answers again and the claims have expired, the same command converges. Against a MariaDB server of
the test's own (the shared one is never frozen). Also: where the socket timeout comes from, and
the libraries' log records as scrubctl's.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import DBAPIError

from scrubctl.errors import DatabaseError
from scrubctl.glance.database import DEFAULT_TIMEOUT_SECONDS, GlanceDatabase
from scrubctl.glance.outage import is_unreachable
from scrubctl.settings.secrets import Secret
from scrubctl.unattended.logs import configure_logging
from tests.broken.test_broken import scrubber_restore
from tests.coordination.test_galera import audited_erases, wait_for_erases
from tests.orphans.test_orphans import stray
from tests.support.mariadb_server import OwnMariaDB, own_mariadb
from tests.support.outage_checks import assert_one_line
from tests.support.world import GlanceWorld, invoke
from tests.unattended.test_unattended import assert_consistent, spawn

TIMEOUT = 3  # [scrubctl] database_timeout in these tests
CLAIM_TIMEOUT = 3
BOUND = TIMEOUT + 15  # what a run may take once the server froze: one timeout and a margin
NO_ANSWER = f"no answer within {TIMEOUT} s"  # how the run names the outage it met


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnMariaDB]:
    with own_mariadb(tmp_path_factory.mktemp("hang-mariadb")) as started:
        yield started


@pytest.fixture
def world(server: OwnMariaDB, tmp_path: Path) -> Iterator[GlanceWorld]:
    """A Glance world on the test's own server, with short database and claim timeouts."""
    url = server.create_glance_database(f"glance_{uuid.uuid4().hex[:12]}")
    engine = create_engine(url)
    world = GlanceWorld(kind="mariadb", url=url, engine=engine, root=tmp_path)
    world.extra_config = f"\n[scrubctl]\nclaim_timeout = {CLAIM_TIMEOUT}\ndatabase_timeout = {TIMEOUT}\n"
    yield world
    engine.dispose()


def held(world: GlanceWorld) -> list[str]:
    """The subjects of the claims in force (an expired row stays until a run claims its subject)."""
    with world.engine.connect() as connection:
        if connection.exec_driver_sql("SHOW TABLES LIKE 'scrubctl_claims'").first() is None:
            return []
        rows = connection.exec_driver_sql("SELECT subject FROM scrubctl_claims WHERE expires_at > UTC_TIMESTAMP(6)")
        return [str(subject) for subject in rows.scalars()]


def audited(log: Path, action: str) -> int:
    """How many audit records of ``action`` the run has written so far."""
    if not log.exists():
        return 0
    records = [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]
    return sum(1 for record in records if record["action"] == action)


def frozen_mid_run(
    server: OwnMariaDB, process: subprocess.Popen[str], log: Path, action: str
) -> tuple[str, str, float]:
    """Once the run has audited a few ``action`` records, freeze the server (the run itself paused
    meanwhile, so that it cannot end in between); thaw it once the run has ended. Return the run's
    stdout, stderr and how long it went on after the freeze."""
    deadline = time.monotonic() + 120
    while audited(log, action) < 5:
        assert process.poll() is None, f"the run ended before it could be frozen: {process.communicate()}"
        assert time.monotonic() < deadline, "the run audited nothing within 120 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGSTOP)
    with server.frozen():
        process.send_signal(signal.SIGCONT)
        frozen = time.monotonic()
        stdout, stderr = process.communicate(timeout=BOUND + 120)
        elapsed = time.monotonic() - frozen
    return stdout, stderr, elapsed


@pytest.mark.mariadb
def test_a_scrub_ends_within_one_timeout_and_a_later_run_converges(
    world: GlanceWorld, server: OwnMariaDB, tmp_path: Path
) -> None:
    images = [world.image(size=256) for _ in range(400)]
    log, metrics = tmp_path / "audit.jsonl", tmp_path / "scrubctl.prom"
    arguments = ("--concurrency", "2", "--audit-log", str(log), "--metrics-file", str(metrics))
    process = spawn(world, "scrub", "--yes", "-f", "json", *arguments)
    stdout, stderr, elapsed = frozen_mid_run(server, process, log, "erase")
    assert elapsed < BOUND, elapsed
    assert process.returncode == 3, stderr
    assert_one_line(stderr, "scrubctl: unreachable: database: ", NO_ANSWER)
    summary = json.loads(stdout)["summary"]
    assert summary["unreachable"] and summary["scrubbed"] < len(images), summary
    samples = metrics.read_text()  # written still, without the queue's gauges, which the database would tell
    assert f'scrubctl_last_run_images{{result="failed"}} {summary["failed"]}' in samples
    assert "scrubctl_pending_images" not in samples
    assert_consistent(world, audited_erases(log))  # nothing marked deleted with its data left; every erase audited
    time.sleep(CLAIM_TIMEOUT + 1)
    again = spawn(world, "scrub", "--yes", "-f", "json")
    _stdout, errors = again.communicate(timeout=300)
    assert again.returncode == 0, errors
    assert {world.status(image) for image in images} == {"deleted"}
    assert not any(world.data_file(image).exists() for image in images)
    assert held(world) == []


@pytest.mark.mariadb
def test_a_restore_ends_within_one_timeout_and_a_later_one_converges(
    world: GlanceWorld, server: OwnMariaDB, tmp_path: Path
) -> None:
    images = [world.image(size=64) for _ in range(200)]
    log = tmp_path / "audit.jsonl"
    process = spawn(world, "restore", "-f", "json", "--audit-log", str(log), *images)
    stdout, stderr, elapsed = frozen_mid_run(server, process, log, "restore")
    assert elapsed < BOUND, elapsed
    assert process.returncode == 3, stderr
    assert_one_line(stderr, "<3>database unreachable: ", "(timed out)")
    document = json.loads(stdout)
    assert document["summary"]["unreachable"] and 0 < document["summary"]["restored"] < len(images)
    restored = [item["id"] for item in document["images"] if item["result"] == "restored"]
    assert {world.status(image) for image in restored} == {"active"}
    in_flight = [item["id"] for item in document["images"] if "outcome unknown" in item["reason"]]
    assert len(in_flight) == 1  # its COMMIT may have reached the server: only the rows tell
    time.sleep(CLAIM_TIMEOUT + 1)
    left = [image for image in images if world.status(image) == "pending_delete"]
    again = spawn(world, "restore", "-f", "json", *left)
    _stdout, errors = again.communicate(timeout=300)
    assert again.returncode == 0, errors
    assert {world.status(image) for image in images} == {"active"}
    assert all(world.data_file(image).exists() for image in images)
    assert held(world) == []


@pytest.mark.mariadb
def test_a_reclaim_ends_within_one_timeout_and_a_later_one_converges(
    world: GlanceWorld, server: OwnMariaDB, tmp_path: Path
) -> None:
    strays = [stray(world) for _ in range(400)]
    log = tmp_path / "audit.jsonl"
    process = spawn(world, "orphans", "--reclaim", "--yes", "-f", "json", "--audit-log", str(log))
    stdout, stderr, elapsed = frozen_mid_run(server, process, log, "reclaim")
    assert elapsed < BOUND, elapsed
    assert process.returncode == 3, stderr
    assert_one_line(stderr, "<3>database unreachable: ", NO_ANSWER)
    summary = json.loads(stdout)["summary"]
    assert summary["unreachable"] and summary["reclaimed"] + summary["failed"] == len(strays), summary
    time.sleep(CLAIM_TIMEOUT + 1)
    again = spawn(world, "orphans", "--reclaim", "--yes", "-f", "json")
    _stdout, errors = again.communicate(timeout=300)
    assert again.returncode == 0, errors
    assert not any(path.exists() for path in strays)
    assert held(world) == []


@pytest.mark.mariadb
def test_a_repair_ends_within_one_timeout_and_a_later_one_converges(
    world: GlanceWorld, server: OwnMariaDB, tmp_path: Path
) -> None:
    images = [world.image(size=64) for _ in range(200)]
    for image in images:
        scrubber_restore(world, image)  # active, its locations still pending_delete: broken
    log = tmp_path / "audit.jsonl"
    process = spawn(world, "broken", "--repair", "-f", "json", "--audit-log", str(log))
    stdout, stderr, elapsed = frozen_mid_run(server, process, log, "repair")
    assert elapsed < BOUND, elapsed
    assert process.returncode == 3, stderr
    assert_one_line(stderr, "<3>database unreachable: ", "(timed out)")
    results = {item["id"]: item["result"] for item in json.loads(stdout)["images"]}
    assert set(results.values()) == {"repaired", "refused"}, results
    time.sleep(CLAIM_TIMEOUT + 1)
    again = spawn(world, "broken", "--repair", "-f", "json")
    _stdout, errors = again.communicate(timeout=300)
    assert again.returncode == 0, errors
    assert world.location_statuses(images[0]) == ["active"]
    check = spawn(world, "broken", "-f", "json")
    listing, errors = check.communicate(timeout=300)
    assert check.returncode == 0 and json.loads(listing) == [], errors
    assert held(world) == []


@pytest.mark.mariadb
def test_sigterm_records_what_was_erased_and_releases_the_claims(world: GlanceWorld, tmp_path: Path) -> None:
    world.extra_config = "\n[scrubctl]\nclaim_timeout = 300\n"  # held claims would stay: released ones go
    images = [world.image(size=256) for _ in range(400)]
    log = tmp_path / "audit.jsonl"
    process = spawn(world, "scrub", "--yes", "-f", "json", "--concurrency", "2", "--audit-log", str(log))
    wait_for_erases(log, 5, process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout)["summary"]
    assert summary["interrupted"] and summary["scrubbed"] > 0 and not summary["unreachable"], summary
    assert_consistent(world, audited_erases(log))
    assert sum(world.status(image) == "deleted" for image in images) == summary["scrubbed"]
    assert held(world) == []


@pytest.mark.mariadb
def test_sigterm_while_the_server_is_frozen_ends_the_run_within_one_timeout(
    world: GlanceWorld, server: OwnMariaDB, tmp_path: Path
) -> None:
    [world.image(size=256) for _ in range(400)]
    log = tmp_path / "audit.jsonl"
    process = spawn(world, "scrub", "--yes", "-f", "json", "--concurrency", "2", "--audit-log", str(log))
    wait_for_erases(log, 5, process)
    process.send_signal(signal.SIGSTOP)
    with server.frozen():
        process.send_signal(signal.SIGCONT)
        frozen = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=BOUND + 120)
        elapsed = time.monotonic() - frozen
    assert elapsed < BOUND, elapsed
    assert process.returncode == 143, stderr
    assert_one_line(stderr, "scrubctl: unreachable: database: ", NO_ANSWER)
    assert json.loads(stdout)["summary"]["interrupted"]
    assert_consistent(world, audited_erases(log))


@pytest.mark.mariadb
def test_the_url_s_read_timeout_bounds_a_command_unless_database_timeout_is_set(
    world: GlanceWorld, server: OwnMariaDB
) -> None:
    world.url += "?read_timeout=2&write_timeout=2"
    world.extra_config = ""
    with server.frozen():
        started = time.monotonic()
        listing = spawn(world, "list-pending")
        _stdout, stderr = listing.communicate(timeout=BOUND + 120)
        elapsed = time.monotonic() - started
    assert listing.returncode == 3, stderr
    assert elapsed < 2 + 15, elapsed
    assert stderr.count("\n") == 1 and stderr.startswith("scrubctl: error: cannot connect to "), stderr
    assert "timed out" in stderr
    assert GlanceDatabase(Secret(world.url)).timeout == 2
    assert GlanceDatabase(Secret(world.url), timeout=7).timeout == 7  # [scrubctl] database_timeout wins
    assert GlanceDatabase(Secret(server.url)).timeout == DEFAULT_TIMEOUT_SECONDS


class PoolRecords(logging.Handler):
    """What SQLAlchemy's pool logs at warning and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize(
    ("database_timeout", "url_query", "message"),
    [
        ("soon", "", "[scrubctl] database_timeout must be a whole number of seconds, not 'soon'"),
        ("0", "", "[scrubctl] database_timeout must be at least 1 second"),
        ("", "?read_timeout=soon", "read_timeout must be a positive number of seconds"),
        ("", "?write_timeout=0", "write_timeout must be a positive number of seconds"),
    ],
)
def test_a_timeout_scrubctl_cannot_use_is_one_line_and_exit_3(
    tmp_path: Path, database_timeout: str, url_query: str, message: str
) -> None:
    config = tmp_path / "glance-api.conf"
    config.write_text(
        f"[database]\nconnection = mysql+pymysql://glance:hunter22@127.0.0.1:1/glance{url_query}\n"
        f"[scrubctl]\ndatabase_timeout = {database_timeout}\n"
    )
    result = invoke(["--config-file", str(config), "list-pending"])
    assert result.exit_code == 3
    assert result.stderr.startswith("scrubctl: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "hunter22" not in result.stderr


@pytest.mark.mariadb
def test_once_a_call_timed_out_no_other_call_waits(server: OwnMariaDB) -> None:
    database = GlanceDatabase(Secret(server.database_url("mysql")), timeout=TIMEOUT)
    records = PoolRecords()
    pool_logger = logging.getLogger("sqlalchemy.pool")
    pool_logger.addHandler(records)
    first, second, idle, reading = (database.engine.connect() for _ in range(4))
    idle.exec_driver_sql("SELECT 1").all()
    idle.commit()  # no transaction left: what closing it costs is the pool's reset
    reading.exec_driver_sql("SELECT 1").all()  # its transaction stays open: closing it rolls it back
    errors: dict[str, BaseException] = {}

    def wait_on(name: str, connection: Connection) -> None:
        try:
            connection.exec_driver_sql("SELECT 1")
        except DBAPIError as error:
            errors[name] = error

    try:
        with server.frozen():
            waiting = threading.Thread(target=wait_on, args=("first", first))
            waiting.start()
            time.sleep(1)  # the second statement starts later: alone, it would time out later
            wait_on("second", second)
            waiting.join(BOUND)
            assert "timed out" in str(errors["first"])
            assert database.outage == f"no answer within {TIMEOUT} s ({errors['first'].orig.args[1]})"
            assert "timed out" not in str(errors["second"]) and is_unreachable(errors["second"]), errors["second"]
            with pytest.raises(DatabaseError, match="database unreachable: no answer within"):
                database.connect().__enter__()
            with pytest.raises(DBAPIError, match="not connecting again") as refused:
                database.engine.connect()
            assert is_unreachable(refused.value)
            first.close()
            second.close()
            idle.close()  # given back to the pool without a ROLLBACK (it would fail, and be logged)
            reading.close()  # likewise, its transaction not rolled back (that would fail, and raise)
            database.dispose()
    finally:
        pool_logger.removeHandler(records)
    assert records.messages == []


@pytest.mark.parametrize("debug", [False, True])
def test_library_records_are_one_line_warnings_with_a_traceback_only_under_debug(debug: bool) -> None:
    stream = io.StringIO()
    configure_logging(0, lambda text: text.replace("hunter2", "***"), stream, debug=debug)
    pool = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
    try:
        raise ConnectionResetError("peer gone\nfor good")
    except ConnectionResetError:
        pool.error("Exception during reset or similar (password hunter2)", exc_info=True)
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("<4>Exception during reset or similar (password ***)")
    assert ("Traceback" in lines[0]) is debug
    assert ("ConnectionResetError: peer gone | for good" in lines[0]) is debug
