"""``scrubctl check`` as a guard for ``scrub``: where check fails, scrub would fail; where it passes,
scrub runs; and check itself changes nothing. Real MariaDB accounts with real grants, real SQLite
files, real paths, the real Ceph cluster and gateway."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scrubctl.coordination.claims import claims_table_exists, ensure_claims_table
from scrubctl.glance.grants import Grant, Need, database_matches, generality, missing_privileges, parse_grant
from scrubctl.testing.deleter_contract import TIMEOUT_SLACK_SECONDS
from tests.support.ceph import ceph_env
from tests.support.rgw import (  # the *_fixture imports register the fixtures rgw, s3, swift
    RgwEnv,
    S3Side,
    SwiftSide,
    dead_endpoint,
    s3_store_section,
    silent_endpoint,
    swift_store_section,
)
from tests.support.world import CliResult, GlanceWorld

PASSWORD = "check-pw-4711"
ON_MARIADB = pytest.mark.parametrize(
    "database_url", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
IMAGES_UPDATE = "UPDATE (status, deleted, updated_at) ON {db}.images"
LOCATIONS_UPDATE = "UPDATE (status, deleted, deleted_at, updated_at) ON {db}.image_locations"


def failing(result: CliResult) -> list[str]:
    """The FAIL lines of a check."""
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL")]


def database_name(world: GlanceWorld) -> str:
    return world.url.rsplit("/", 1)[1]


@contextmanager
def account(world: GlanceWorld, *grants: str) -> Iterator[str]:
    """A MariaDB account of its own holding ``grants`` (``{db}``: the world's database); yields its
    URL and drops it afterwards."""
    user = f"chk_{uuid.uuid4().hex[:12]}"
    with world.engine.begin() as connection:
        # ('%%': a literal percent sign, the driver formats the statement)
        connection.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY '{PASSWORD}'")
        for grant in grants:
            connection.exec_driver_sql(f"GRANT {grant.format(db=database_name(world))} TO '{user}'@'%%'")
    try:
        yield world.url.replace("root@", f"{user}:{PASSWORD}@", 1)
    finally:
        with world.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")


def claims_table_is_there(world: GlanceWorld) -> bool:
    with world.engine.connect() as connection:
        return claims_table_exists(connection)


@ON_MARIADB
def test_an_account_that_may_only_read_fails_check_and_scrub_alike(world: GlanceWorld) -> None:
    image = world.image()
    db = database_name(world)
    with account(world, "SELECT ON {db}.*") as url:
        before = world.checksum()
        checked = world.cli("--db-url", url, "check")
        assert checked.exit_code == 3, checked.stdout
        [line] = failing(checked)
        assert line.startswith("FAIL database writes: chk_")
        for need in (IMAGES_UPDATE, LOCATIONS_UPDATE, "CREATE, INSERT, UPDATE, DELETE ON {db}.scrubctl_claims"):
            assert need.format(db=db) in line
        assert "does not exist yet" in line
        assert world.checksum() == before and not claims_table_is_there(world)  # check created nothing
        scrubbed = world.cli("--db-url", url, "scrub", "--yes")
        assert scrubbed.exit_code == 3
        assert world.status(image) == "pending_delete" and world.data_file(image).exists()
        assert PASSWORD not in checked.stdout + checked.stderr + scrubbed.stdout + scrubbed.stderr


@ON_MARIADB
def test_the_grants_check_asks_for_are_all_a_scrub_needs(world: GlanceWorld) -> None:
    image = world.image()
    grants = (
        "SELECT ON {db}.*",
        IMAGES_UPDATE,
        LOCATIONS_UPDATE,
        "CREATE, SELECT, INSERT, UPDATE, DELETE ON {db}.scrubctl_claims",
    )
    with account(world, *grants) as url:
        checked = world.cli("--db-url", url, "check")
        assert checked.exit_code == 0, checked.stdout
        assert "scrubctl_claims does not exist yet: scrub creates it" in checked.stdout
        scrubbed = world.cli("--db-url", url, "scrub", "--yes")
        assert scrubbed.exit_code == 0, scrubbed.stderr
        assert world.status(image) == "deleted" and not world.data_file(image).exists()
        assert claims_table_is_there(world)
        again = world.cli("--db-url", url, "check")
        assert again.exit_code == 0 and "scrubctl_claims exists" in again.stdout


@ON_MARIADB
def test_once_the_claims_table_exists_rows_on_it_are_enough(world: GlanceWorld) -> None:
    with world.engine.connect() as connection:
        ensure_claims_table(connection)
    db = database_name(world)
    with account(world, "SELECT, UPDATE ON {db}.*") as url:
        [line] = failing(world.cli("--db-url", url, "check"))
        assert line.endswith(f"lacks INSERT, DELETE ON {db}.scrubctl_claims (scrubctl_claims exists)"), line
        assert "CREATE" not in line and "images" not in line
    with account(world, "SELECT, INSERT, UPDATE, DELETE ON {db}.*") as url:
        assert world.cli("--db-url", url, "check").exit_code == 0


@ON_MARIADB
def test_database_patterns_count_as_the_server_counts_them(world: GlanceWorld) -> None:
    image = world.image()
    everything = "SELECT, INSERT, UPDATE, DELETE, CREATE ON `scrubctl\\_t\\_%%`.*"  # the fixture's databases
    with account(world, everything) as url:
        checked = world.cli("--db-url", url, "check")
        assert checked.exit_code == 0, checked.stdout
    # A grant on the database's exact name is the one the server uses: the pattern's privileges no longer count.
    with account(world, everything, "SELECT ON {db}.*") as url:
        checked = world.cli("--db-url", url, "check")
        assert checked.exit_code == 3 and "UPDATE" in failing(checked)[0]
        assert world.cli("--db-url", url, "scrub", "--yes").exit_code == 3
        assert world.status(image) == "pending_delete"
    # Of two patterns, the one with the later wildcard is the one the server uses.
    with account(world, "SELECT ON `scrubctl\\_t\\_%%`.*", everything.replace("scrubctl\\_t\\_", "scrub")) as url:
        checked = world.cli("--db-url", url, "check")
        assert checked.exit_code == 3 and "UPDATE" in failing(checked)[0]
        assert world.cli("--db-url", url, "scrub", "--yes").exit_code == 3
        assert world.status(image) == "pending_delete"


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` made immutable (chattr +i): not even root may write it; skipped where the file
    system has no such attribute."""
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@ON_SQLITE
def test_a_sqlite_file_or_directory_that_cannot_be_written_fails_check(world: GlanceWorld) -> None:
    image = world.image()
    database = Path(world.url.removeprefix("sqlite:///"))
    assert "ok   database writes" in world.cli("check").stdout
    for target, words in ((database, "is not writable"), (database.parent, "SQLite writes its journal")):
        with immutable(target):
            checked = world.cli("check")
            assert checked.exit_code == 3
            [line] = failing(checked)
            assert line.startswith("FAIL database writes") and words in line, line
            assert world.cli("scrub", "--yes").exit_code == 3
        assert world.status(image) == "pending_delete"


@ON_SQLITE
@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("missing/audit.jsonl", "does not exist"),
        ("{file}/audit.jsonl", "is not a directory"),
        ("/proc/scrubctl-check-audit.jsonl", "on a proc file system"),
        ("/proc/version", "on a proc file system"),
        ("/sys/kernel/scrubctl-check-audit.jsonl", "on a sysfs file system"),
    ],
)
def test_an_audit_log_scrub_could_not_write_fails_check(
    world: GlanceWorld, tmp_path: Path, where: str, words: str
) -> None:
    image = world.image()
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-directory").mkdir()
    path = where.format(file=tmp_path / "a-file", directory=tmp_path / "a-directory")
    if not path.startswith("/"):
        path = str(tmp_path / path)
    checked = world.cli("check", "--audit-log", path)
    assert checked.exit_code == 3
    [line] = failing(checked)
    assert line.startswith(f"FAIL audit log: {path} cannot be appended to") and words in line, line
    assert world.cli("scrub", "--yes", "--audit-log", path).exit_code == 3
    assert world.status(image) == "pending_delete"
    world.extra_config = f"\n[scrubctl]\naudit_log = {path}\nmetrics_file = {path}\n"
    configured = failing(world.cli("check"))
    assert [line.split(":")[0] for line in configured] == ["FAIL audit log", "FAIL metrics file"]


@ON_SQLITE
def test_outputs_are_checked_without_being_created_or_changed(world: GlanceWorld, tmp_path: Path) -> None:
    audit, metrics = tmp_path / "logs" / "audit.jsonl", tmp_path / "metrics" / "scrubctl.prom"
    checked = world.cli("check", "--audit-log", str(audit), "--metrics-file", str(metrics))
    assert [line.split(":")[0] for line in failing(checked)] == ["FAIL audit log", "FAIL metrics file"]
    assert not audit.parent.exists() and not metrics.parent.exists()
    audit.parent.mkdir()
    metrics.parent.mkdir()
    checked = world.cli("check", "--audit-log", str(audit), "--metrics-file", str(metrics))
    assert checked.exit_code == 0, checked.stdout
    assert f"ok   audit log: {audit} can be appended to" in checked.stdout
    assert list(audit.parent.iterdir()) == [] and list(metrics.parent.iterdir()) == []
    world.extra_config = f"\n[scrubctl]\naudit_log = {audit.parent}\nmetrics_file = {metrics.parent}\n"
    assert [line.split(":")[0] for line in failing(world.cli("check"))] == ["FAIL audit log", "FAIL metrics file"]
    assert "is a directory" in world.cli("check").stdout
    world.extra_config = ""
    audit.write_text("earlier\n")
    with immutable(audit):
        [line] = failing(world.cli("check", "--audit-log", str(audit)))
        assert "is not writable" in line
    with immutable(metrics.parent):
        [line] = failing(world.cli("check", "--metrics-file", str(metrics)))
        assert line.startswith("FAIL metrics file") and "is not writable" in line
    assert audit.read_text() == "earlier\n"
    shutil.rmtree(metrics.parent)


def test_grant_lines_as_the_server_prints_them() -> None:
    lines = [
        "GRANT `reader` TO `glance`@`%`",
        "GRANT USAGE ON *.* TO `glance`@`%` IDENTIFIED BY PASSWORD '*D821809F681A40A6E379B50D0463EFAE20BDD122'",
        "GRANT PROXY ON ''@'%' TO 'glance'@'%' WITH GRANT OPTION",
        "GRANT EXECUTE ON PROCEDURE `glance`.`p` TO `glance`@`%`",
        "GRANT CREATE TEMPORARY TABLES, LOCK TABLES, DELETE HISTORY ON `glance`.* TO `glance`@`%`",
        "GRANT SELECT (`id`), UPDATE (`status`, `dele``ted`) ON `glance`.`images` TO `glance`@`%`",
        "GRANT ALL PRIVILEGES ON `gl\\_%`.* TO `glance`@`%` WITH GRANT OPTION",
        "SET DEFAULT ROLE `reader` FOR `glance`@`%`",
    ]
    parsed = [parse_grant(line) for line in lines]
    assert parsed[:4] == [None, Grant("`glance`@`%`", frozenset({"USAGE"})), None, None]
    assert parsed[4] == Grant(
        "`glance`@`%`", frozenset({"CREATE TEMPORARY TABLES", "LOCK TABLES", "DELETE HISTORY"}), {}, "glance"
    )
    assert parsed[5] == Grant(
        "`glance`@`%`",
        frozenset(),
        {"SELECT": frozenset({"id"}), "UPDATE": frozenset({"status", "dele`ted"})},
        "glance",
        "images",
    )
    assert parsed[6] == Grant("`glance`@`%`", frozenset({"ALL PRIVILEGES"}), {}, "gl\\_%")
    assert parsed[7] is None


def test_database_patterns_and_which_one_counts() -> None:
    assert database_matches("gl\\_%", "gl_ance") and not database_matches("gl\\_%", "glance")
    assert database_matches("gl_nce", "glance") and database_matches("glance", "glance")
    assert not database_matches("glance", "Glance") and not database_matches("gl%", "xglance")
    assert generality("glance") < generality("gl\\_ance%") < generality("gl_%") < generality("g%")
    # as the server ranks them: the escaped '_' and the later '%' first; a name with '_' before either
    assert generality("scrubctl_t_z%") < generality("scrubctl\\_t\\_%") < generality("scrub%")
    assert generality("scrubctl_t_0123") < generality("scrubctl\\_t\\_%")
    update = Need("UPDATE", "images", ("status",))
    pattern = Grant("u", frozenset({"UPDATE"}), {}, "gl%")
    exact = Grant("u", frozenset({"SELECT"}), {}, "glance")
    column = Grant("u", frozenset(), {"UPDATE": frozenset({"status"})}, "glance", "images")
    role = Grant("`role`", frozenset({"UPDATE"}), {}, "glance")
    assert missing_privileges([pattern], "glance", [update]) == []
    assert missing_privileges([pattern, exact], "glance", [update]) == [update]
    assert missing_privileges([pattern, exact, column], "glance", [update]) == []
    assert missing_privileges([pattern, exact, role], "glance", [update]) == []
    assert missing_privileges([column], "glance", [Need("UPDATE", "images", ("status", "deleted"))])


STORE_TIMEOUT = 3  # seconds, for each store of the test below


def object_stores(world: GlanceWorld, rgw: RgwEnv, bucket: str, *, ceph: Path, s3: str, swift: str) -> None:
    """Configure an rbd, an s3 and a swift store: the Ceph cluster that ``ceph`` (a ceph.conf) names,
    and the S3 and Swift (v1 auth) interfaces at ``s3`` and ``swift`` (``host:port``)."""
    env = ceph_env()
    world.object_stores = {"ceph": "rbd", "objects": "s3", "containers": "swift"}
    world.extra_config = (
        f"\n[ceph]\nrbd_store_pool = {env.pool}\nrbd_store_user = {env.user}\nrbd_store_ceph_conf = {ceph}\n"
        f"rados_connect_timeout = {STORE_TIMEOUT}\n"
        + s3_store_section(rgw, "objects", bucket, host=s3, timeout=STORE_TIMEOUT)
        + swift_store_section(rgw, "containers", world.root, auth_url=f"http://{swift}/auth/1.0", timeout=STORE_TIMEOUT)
    )


@pytest.mark.ceph
@ON_SQLITE
def test_every_configured_store_is_reached_within_its_timeout(
    world: GlanceWorld, rgw: RgwEnv, s3: S3Side, swift: SwiftSide
) -> None:
    assert swift.client is not None  # the swift store's container exists (the fixture makes it)
    bucket = s3.bucket()
    object_stores(world, rgw, bucket, ceph=ceph_env().conf, s3=rgw.host, swift=rgw.host)
    checked = world.cli("check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    for store in ("ceph (rbd)", "objects (s3)", "containers (swift)"):
        assert f"ok   store {store}: reachable" in checked.stdout
    # The monitors and both gateways at a closed port, then both gateways at a port that never answers.
    dead = dead_endpoint()
    ceph_conf = world.root / "dead-ceph.conf"
    ceph_conf.write_text(ceph_env().conf.read_text().replace("mon_host = ", f"mon_host = {dead}\n# was: ", 1))
    with silent_endpoint() as hung:
        for s3_at, swift_at, bound in ((dead, dead, 1), (hung, hung, 3)):
            object_stores(world, rgw, bucket, ceph=ceph_conf, s3=s3_at, swift=swift_at)
            started = time.monotonic()
            checked = world.cli("check")
            elapsed = time.monotonic() - started
            assert checked.exit_code == 3
            assert [line.split(":")[0] for line in failing(checked)] == [
                "FAIL store ceph (rbd)",
                "FAIL store objects (s3)",
                "FAIL store containers (swift)",
            ]
            assert "within 3 s" in checked.stdout
            assert elapsed <= bound * STORE_TIMEOUT + 3 * TIMEOUT_SLACK_SECONDS, elapsed
            assert rgw.secret_key not in checked.stdout + checked.stderr
