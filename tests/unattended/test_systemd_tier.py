"""The generated units under a real systemd (Debian 12's, PID 1 in a podman container).

scrubctl is installed from its wheel with pip, as an operator would; ``scrubctl systemd-units``
writes the units; ``systemctl start`` runs them with every sandboxing option applied. Each case
checks what an operator sees: whether ``systemctl is-failed`` says the truth, what the journal
holds (one line per image with its priority, one summary, no table), and the rows, files and RBD
images left. See ``tests/support/systemd_host.py`` for the container.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from scrubctl.glance.bootstrap import create_sqlite_database
from tests.conftest import mariadb_database, require_tier
from tests.support.ceph import (  # the *_fixture imports register the fixtures ceph and ceph_session
    ENV_VARIABLE as CEPH_ENV_VARIABLE,
)
from tests.support.ceph import (
    IMAGE_BYTES,
    Cluster,
    read_env,
)
from tests.support.systemd_host import (
    IMAGE_VARIABLE,
    INSIDE,
    KEYRING,
    JournalLine,
    Site,
    SystemdHost,
    build_wheel,
    podman_problem,
    start_host,
)

pytestmark = pytest.mark.systemd

CLOSED_PORT = 9  # nothing listens on 127.0.0.1:9 (discard): the database is down
PRIORITY = {"scrubbed": 6, "blocked": 4, "failed": 3}
IMAGE_LINE = re.compile(r"image ([0-9a-f-]{36})(?: \(.*?\))? (scrubbed|blocked|failed), ")


@pytest.fixture(scope="module")
def systemd_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdHost]:
    """One container for the module: systemd booted, scrubctl's wheel installed."""
    problem = podman_problem()
    if problem:
        require_tier("systemd", problem)
    wheel = build_wheel(tmp_path_factory.mktemp("wheel"))
    ceph_env = os.environ.get(CEPH_ENV_VARIABLE)
    keyring = read_env(Path(ceph_env)).keyring if ceph_env and Path(ceph_env).is_file() else None
    sites = tmp_path_factory.mktemp("sites")
    sites.chmod(0o755)  # the service's user goes through it to its site
    yield from start_host(os.environ[IMAGE_VARIABLE], sites, wheel, keyring)


@pytest.fixture
def host(systemd_host: SystemdHost) -> Iterator[SystemdHost]:
    """The container, its scrubctl units removed after the test."""
    yield systemd_host
    systemd_host.reset()


def new_directory(host: SystemdHost) -> tuple[Path, Path]:
    """A fresh directory for one site: here, and inside the container."""
    name = f"site-{uuid.uuid4().hex[:8]}"
    (host.sites / name).mkdir()
    return host.sites / name, INSIDE / name


@pytest.fixture
def sqlite_site(host: SystemdHost) -> Iterator[Site]:
    """A Glance on SQLite (the real schema) with one file store, in a directory of its own."""
    outside, inside = new_directory(host)
    create_sqlite_database(outside / "glance.sqlite")
    engine = create_engine(f"sqlite:///{outside / 'glance.sqlite'}")
    yield Site(outside, inside, f"sqlite:///{inside / 'glance.sqlite'}", engine)
    engine.dispose()


@pytest.fixture
def mariadb_site(host: SystemdHost) -> Iterator[Site]:
    """A Glance on the real MariaDB (a database of its own) with one file store."""
    databases = mariadb_database()
    url = next(databases)
    outside, inside = new_directory(host)
    engine = create_engine(url)
    try:
        yield Site(outside, inside, url, engine)
    finally:
        engine.dispose()
        databases.close()  # drops the database


def give_to_glance(host: SystemdHost, path: Path) -> None:
    """Make ``path`` (inside) belong to the service's user, as an install would."""
    host.run("chown", "-R", "glance:glance", str(path))


def read_write_paths(unit: str) -> list[str]:
    """The ``ReadWritePaths=`` of a service unit, each without its ``-`` prefix."""
    line = next(line for line in unit.splitlines() if line.startswith("ReadWritePaths="))
    return [word.removeprefix("-") for word in line.removeprefix("ReadWritePaths=").split()]


def image_lines(lines: list[JournalLine]) -> dict[str, tuple[str, JournalLine]]:
    """The result and the journal line of each image, by image id (each image must have exactly one)."""
    found: dict[str, tuple[str, JournalLine]] = {}
    for line in lines:
        match = IMAGE_LINE.match(line.message)
        if match:
            assert match.group(1) not in found, f"two lines for image {match.group(1)}: {lines}"
            found[match.group(1)] = (match.group(2), line)
    return found


def assert_journal_is_the_record(lines: list[JournalLine], results: dict[str, str]) -> JournalLine:
    """One line per image (``results``: id -> result) at its result's priority, the plan line, one
    summary line, and nothing else (no table, no padding); return the summary line."""
    per_image = image_lines(lines)
    assert {image: result for image, (result, _line) in per_image.items()} == results
    for result, line in per_image.values():
        assert line.priority == PRIORITY[result], line
    summaries = [line for line in lines if line.message.startswith("Summary")]
    plans = [line for line in lines if line.message.startswith("Plan: ")]
    assert len(summaries) == 1 and len(plans) == 1, lines
    assert len(lines) == len(results) + 2, lines  # nothing else: no results table, no blank lines
    return summaries[0]


def metric_samples(path: Path) -> dict[tuple[str, str], float]:
    """The samples of a Prometheus text file, by (name, result label)."""
    return {
        (sample.name, sample.labels.get("result", "")): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }


def test_a_sqlite_sandbox_with_a_blocked_image_succeeds(host: SystemdHost) -> None:
    """The sandbox (SQLite and file stores) as Glance's database: the unit can write the database
    (its directory is in ReadWritePaths), the image left blocked (data shared with a live image)
    does not fail the unit, the journal holds the record and the metrics count the blocked image."""
    outside, inside = new_directory(host)
    host.scrubctl("sandbox", str(inside / "sandbox"))
    config = inside / "sandbox" / "glance-api.conf"
    with (outside / "sandbox" / "glance-api.conf").open("a", encoding="utf-8") as handle:
        handle.write(f"\n[scrubctl]\nmetrics_file = {inside / 'metrics' / 'scrubctl.prom'}\n")
    (outside / "metrics").mkdir()
    give_to_glance(host, inside)
    due = json.loads(host.scrubctl("--config-file", str(config), "list-pending", "--due", "-f", "json").stdout)
    blocked = [image["id"] for image in due if image["name"] == "rocky-9-shared"]
    assert len(blocked) == 1 and len(due) > 3
    host.install_units(config)

    cursor = host.cursor()
    assert host.start() == 0
    assert host.is_failed() == "inactive"  # not "failed": only blocked images were left
    assert str(inside / "sandbox") in read_write_paths(host.unit_file())  # SQLite's database and journal
    lines = host.journal(cursor)
    results = {image["id"]: "blocked" if image["id"] in blocked else "scrubbed" for image in due}
    summary = assert_journal_is_the_record(lines, results)
    assert summary.priority == 4 and "1 blocked, 0 failed" in summary.message

    left = json.loads(host.scrubctl("--config-file", str(config), "list-pending", "--due", "-f", "json").stdout)
    assert [image["id"] for image in left] == blocked
    samples = metric_samples(outside / "metrics" / "scrubctl.prom")
    assert samples[("scrubctl_last_run_images", "blocked")] == 1
    assert samples[("scrubctl_last_run_images", "failed")] == 0
    assert ("scrubctl_last_success_timestamp_seconds", "") in samples


@pytest.mark.mariadb
@pytest.mark.ceph
def test_all_scrubbed_on_mariadb_with_file_and_rbd_stores(host: SystemdHost, mariadb_site: Site, ceph: Cluster) -> None:
    """The real MariaDB, a file store and the Ceph cluster's rbd store, an audit log and a metrics
    file in directories of their own: everything is erased and the unit succeeds."""
    site, env = mariadb_site, ceph.env
    mon_host = next(line for line in env.conf.read_text().splitlines() if line.startswith("mon_host"))
    site.here(site.root / "ceph.conf").write_text(
        f"[global]\nfsid = {env.fsid}\n{mon_host}\n[client.{env.user}]\nkeyring = {KEYRING}\n", encoding="utf-8"
    )
    site.rbd_stores = {
        "ceph": f"rbd_store_pool = {env.pool}\nrbd_store_user = {env.user}\n"
        f"rbd_store_ceph_conf = {site.root / 'ceph.conf'}\nrados_connect_timeout = 10\n"
    }
    audit, metrics = site.root / "audit" / "scrubctl.jsonl", site.root / "metrics" / "scrubctl.prom"
    site.extra_config = f"\n[scrubctl]\naudit_log = {audit}\nmetrics_file = {metrics}\n"
    for directory in (audit.parent, metrics.parent):
        site.here(directory).mkdir()
    files = [site.image() for _ in range(2)]
    rbd_name = ceph.glance_image()
    in_rbd = site.image("ceph", url=ceph.url(rbd_name), size=IMAGE_BYTES)
    config = site.write_config()
    give_to_glance(host, site.root)
    host.install_units(config)
    writable = read_write_paths(host.unit_file())
    assert {str(site.store("fast")), str(audit.parent), str(metrics.parent)} <= set(writable)
    assert str(site.root) not in writable  # nothing else: the database is on a server

    cursor = host.cursor()
    assert host.start() == 0
    assert host.is_failed() == "inactive"
    summary = assert_journal_is_the_record(host.journal(cursor), dict.fromkeys([*files, in_rbd], "scrubbed"))
    assert summary.priority == 6 and "3 scrubbed, 0 blocked, 0 failed" in summary.message
    assert {site.status(image) for image in [*files, in_rbd]} == {"deleted"}
    assert not any(site.here(site.store("fast") / image).exists() for image in files)
    assert rbd_name not in ceph.names()
    erased = [json.loads(line) for line in site.here(audit).read_text().splitlines()]
    assert {record["image_id"] for record in erased if record["result"] == "erased"} == {*files, in_rbd}
    assert metric_samples(site.here(metrics))[("scrubctl_last_run_images", "scrubbed")] == 3


def test_a_failed_erase_fails_the_unit(host: SystemdHost, sqlite_site: Site) -> None:
    """A file the service's user cannot remove (its directory belongs to root): that image failed,
    the other is scrubbed, and the unit is "failed" with the failure in the journal as an error."""
    site = sqlite_site
    done = site.image()
    stuck = site.image(subdirectory="root-only")
    config = site.write_config()
    give_to_glance(host, site.root)
    host.run("chown", "root:root", str(site.store("fast") / "root-only"))
    host.install_units(config)

    cursor = host.cursor()
    assert host.start() != 0
    assert host.is_failed() == "failed"
    summary = assert_journal_is_the_record(host.journal(cursor), {done: "scrubbed", stuck: "failed"})
    assert summary.priority == 3 and "1 failed" in summary.message
    assert site.status(done) == "deleted" and site.status(stuck) == "pending_delete"
    assert site.here(site.store("fast") / "root-only" / stuck).exists()
    assert host.show("ExecMainStatus") == "1"


def test_an_unreachable_database_fails_the_unit(host: SystemdHost, sqlite_site: Site) -> None:
    """The database server is down: the unit is "failed" and its one error line has priority error."""
    password = "not-in-the-journal"
    config = sqlite_site.write_config(url=f"mysql+pymysql://glance:{password}@127.0.0.1:{CLOSED_PORT}/glance")
    give_to_glance(host, sqlite_site.root)
    host.install_units(config)

    cursor = host.cursor()
    assert host.start() != 0
    assert host.is_failed() == "failed"
    lines = host.journal(cursor)
    errors = [line for line in lines if line.message.startswith("scrubctl: error:")]
    assert len(errors) == 1 and errors[0].priority == 3, lines
    assert password not in errors[0].message
    assert host.show("ExecMainStatus") == "3"


def test_a_run_longer_than_timeout_start_is_stopped(host: SystemdHost, sqlite_site: Site) -> None:
    """A database server that accepts the connection and never answers: systemd stops the run at
    ``TimeoutStartSec=`` (here 2 s, --timeout-start) with SIGTERM, and the unit is "failed"."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = sqlite_site.write_config(url=f"mysql+pymysql://glance@127.0.0.1:{port}/glance")
        give_to_glance(host, sqlite_site.root)
        host.install_units(config, "--timeout-start", "2s")
        assert host.start() != 0
        assert host.is_failed() == "failed"
        assert host.show("Result") == "timeout"
        assert "TimeoutStartSec=2s\n" in host.unit_file()


def test_the_timer_starts_the_service(host: SystemdHost, sqlite_site: Site) -> None:
    """``systemctl start scrubctl.timer`` with a near ``OnCalendar`` (every 5 seconds): the run
    happens. A drop-in removes the random delay and the one-minute accuracy, to wait seconds."""
    site = sqlite_site
    image = site.image()
    config = site.write_config()
    give_to_glance(host, site.root)
    host.install_units(config, "--on-calendar", "*:*:0/5")
    host.run("mkdir", "-p", "/etc/systemd/system/scrubctl.timer.d")
    host.run(
        "sh",
        "-c",
        "printf '[Timer]\\nRandomizedDelaySec=0\\nAccuracySec=1s\\n' >/etc/systemd/system/scrubctl.timer.d/soon.conf",
    )
    host.run("systemctl", "daemon-reload")

    cursor = host.cursor()
    host.run("systemctl", "start", "scrubctl.timer")
    lines = host.journal(cursor)
    assert host.show("LastTriggerUSec", "scrubctl.timer") not in ("", "n/a", "0")
    host.run("systemctl", "stop", "scrubctl.timer")
    summary = assert_journal_is_the_record(lines, {image: "scrubbed"})
    assert summary.priority == 6
    assert site.status(image) == "deleted"
    assert "OnCalendar=*:*:0/5\n" in host.unit_file("scrubctl.timer")
