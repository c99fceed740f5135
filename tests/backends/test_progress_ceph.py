"""Per-image progress on a real Ceph cluster: each image is recorded and reported as its erase ends.

RBD images without object-map, with a large provisioned size, take seconds to remove (librbd tries
every object), so four of very different sizes end far apart. A thread watches the pool while
``scrub`` runs; each image's ``scrubbed`` log line must come within a second of the image leaving
the pool, with its row deleted by then, while the images still in the pool stay claimed and pending.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from scrubctl.glance.schema import images
from tests.output.test_terminal import run_on_terminal
from tests.support.ceph import (  # the *_fixture imports register the fixtures ceph, rbd_world...
    Cluster,
)
from tests.support.world import GlanceWorld

pytestmark = [pytest.mark.ceph, pytest.mark.slow]

GIB = 1 << 30
# Removal times on the test cluster without object-map: from ~0.03 s to several seconds.
SIZES = (1 * GIB, 48 * GIB, 128 * GIB, 256 * GIB)
REPORTED_WITHIN_SECONDS = 1.0
SHORT_CLAIM_TIMEOUT = 3
# The signal comes with the first image reported: large ones are then still to do, or half removed.
WATCH_LINGERS_SECONDS = 30  # osd_client_watch_timeout: a killed client's watch on an image
KILLED_SIZES = (1 * GIB, 256 * GIB, 256 * GIB, 256 * GIB)
# What the database is does not change how progress is shown or what a killed erase leaves: these
# run on MariaDB alone (a killed removal's watch makes the rerun wait half a minute).
ONE_DATABASE = pytest.mark.parametrize(
    "database_url", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
SCRUBBED_LINE = re.compile(r"image ([0-9a-f-]{36}) .*scrubbed, ")


def slow_image(ceph: Cluster, world: GlanceWorld, size: int) -> str:
    """A Glance image whose RBD image (as Glance writes one: ``snap`` protected) has no object-map,
    so that removing it visits every object of its provisioned size."""
    name = str(uuid.uuid4())
    rbd = ceph.rbd
    rbd.RBD().create(ceph.ioctx, name, size, old_format=False, order=23, features=rbd.RBD_FEATURE_LAYERING)
    ceph.created.append(name)
    with rbd.Image(ceph.ioctx, name) as image:
        image.write(os.urandom(4096), 0)
        image.create_snap("snap")
        image.protect_snap("snap")
    world.image(image_id=name, urls=[ceph.url(name)], stores=[None], write_files=False, size=size)
    return name


@dataclass
class Watch:
    """When each image left the pool, and what the database said when each line came."""

    left_pool: dict[str, float] = field(default_factory=dict)
    reported: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def claimed(world: GlanceWorld) -> set[str]:
    with world.engine.connect() as connection:
        return {row[0] for row in connection.exec_driver_sql("SELECT subject FROM scrubctl_claims")}


def statuses(world: GlanceWorld, ids: list[str]) -> dict[str, str]:
    with world.engine.connect() as connection:
        rows = connection.execute(select(images.c.id, images.c.status).where(images.c.id.in_(ids))).all()
    return {str(image_id): str(status) for image_id, status in rows}


@pytest.mark.parametrize("concurrency", ["2", "1"])
def test_each_image_is_reported_as_its_erase_ends(rbd_world: GlanceWorld, ceph: Cluster, concurrency: str) -> None:
    watch, done = Watch(), threading.Event()
    names = [slow_image(ceph, rbd_world, size) for size in SIZES]
    poller = threading.Thread(target=_watch_the_pool, args=(ceph, names, watch, done), daemon=True)
    poller.start()
    process = subprocess.Popen(
        [sys.executable, "-m", "scrubctl", "scrub", "--yes", "--concurrency", concurrency],
        env={**os.environ, "SCRUBCTL_CONFIG_FILE": str(rbd_world.config_file)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        found = SCRUBBED_LINE.search(line)
        if found is None:
            continue
        image_id, now = found.group(1), time.monotonic()
        watch.reported[image_id] = now
        # At the moment of the line: its row is deleted, and every image still in the pool is still
        # pending and claimed by this run (recorded as each ends, not when the batch is done).
        present = ceph.names()
        state, held = statuses(rbd_world, names), claimed(rbd_world)
        if state[image_id] != "deleted":
            watch.problems.append(f"{image_id} reported while its row is {state[image_id]}")
        for other in names:
            if other in present and other != image_id and (state[other] != "pending_delete" or other not in held):
                watch.problems.append(f"{other} still in the pool but {state[other]}, claimed: {other in held}")
    assert process.wait(timeout=120) == 0
    done.set()
    poller.join(timeout=10)
    assert not watch.problems, watch.problems
    assert set(watch.reported) == set(names)
    delays = {name: watch.reported[name] - watch.left_pool[name] for name in names}
    assert all(delay <= REPORTED_WITHIN_SECONDS for delay in delays.values()), delays
    # The images really ended apart: the first was reported well before the last left the pool.
    assert min(watch.reported.values()) < max(watch.left_pool.values()) - 0.5


def _watch_the_pool(ceph: Cluster, names: list[str], watch: Watch, done: threading.Event) -> None:
    """Note when each of ``names`` leaves the pool (every ~20 ms) until ``done``."""
    while not done.is_set():
        present = ceph.names()
        now = time.monotonic()
        for name in names:
            if name not in present:
                watch.left_pool.setdefault(name, now)
        time.sleep(0.02)


@ONE_DATABASE
def test_a_long_erase_shows_a_growing_percentage_on_a_terminal(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = slow_image(ceph, rbd_world, 160 * GIB)
    code, output = run_on_terminal(rbd_world.config_file, ["scrub", "--yes"], None)
    assert code == 0, output
    percentages = [int(value) for value in re.findall(r"(\d+)% of 20,480 objects", output)]
    assert len(set(percentages)) >= 3, output[-2000:]
    assert percentages == sorted(percentages)
    assert rbd_world.status(image) == "deleted"
    assert image not in ceph.names()


@ONE_DATABASE
def test_off_a_terminal_a_long_erase_logs_progress_every_interval(rbd_world: GlanceWorld, ceph: Cluster) -> None:
    image = slow_image(ceph, rbd_world, 320 * GIB)  # seconds to remove, however fast the machine
    result = rbd_world.cli("scrub", "--yes", "--progress-interval", "1")
    assert result.exit_code == 0, result.stderr
    lines = re.findall(rf"image {image}: (\d+)% of 40,960 objects, [\d.]+ GiB", result.stderr)
    assert lines, result.stderr  # one a second from the first second on
    assert [int(value) for value in lines] == sorted(int(value) for value in lines)
    assert rbd_world.status(image) == "deleted"


@ONE_DATABASE
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_leaves_reported_images_recorded_and_the_rest_pending(
    rbd_world: GlanceWorld, ceph: Cluster, signal_number: int
) -> None:
    rbd_world.extra_config += f"\n[scrubctl]\nclaim_timeout = {SHORT_CLAIM_TIMEOUT}\n"  # a killed run's expire
    names = [slow_image(ceph, rbd_world, size) for size in KILLED_SIZES]
    process = subprocess.Popen(
        [sys.executable, "-m", "scrubctl", "scrub", "--yes", "--concurrency", "1"],
        env={**os.environ, "SCRUBCTL_CONFIG_FILE": str(rbd_world.config_file)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    reported: list[str] = []
    for line in process.stderr:  # the signal comes with the first image reported
        found = SCRUBBED_LINE.search(line)
        if found:
            reported.append(found.group(1))
            process.send_signal(signal_number)
            break
    reported += [found.group(1) for found in SCRUBBED_LINE.finditer(process.stderr.read())]
    process.wait(timeout=120)
    state = statuses(rbd_world, names)
    assert reported and all(state[name] == "deleted" for name in reported), (reported, state)
    in_pool = ceph.names()
    # Every image whose data is still there is pending; after SIGTERM every image not reported too
    # (SIGKILL may land between a commit and its log lines: recorded, then never reported).
    assert all(state[name] == "pending_delete" for name in names if name in in_pool), state
    if signal_number == signal.SIGTERM:
        assert all(state[name] == "pending_delete" for name in names if name not in reported), state
        assert not claimed(rbd_world)  # what was not recorded was released
    else:  # no chance to release: the images still pending stay claimed until their claims expire
        assert {name for name in names if state[name] == "pending_delete"} <= claimed(rbd_world)
        time.sleep(SHORT_CLAIM_TIMEOUT + 0.5)
    assert any(state[name] == "pending_delete" for name in names), "the run ended before the signal"
    rerun = rbd_world.cli("scrub", "--yes")
    deadline = time.monotonic() + WATCH_LINGERS_SECONDS + 30
    while rerun.exit_code != 0 and time.monotonic() < deadline:  # a killed removal's watch lingers
        assert "removal was interrupted" in rerun.stderr and "failed" not in rerun.stderr, rerun.stderr
        time.sleep(2)
        rerun = rbd_world.cli("scrub", "--yes")
    assert rerun.exit_code == 0, rerun.stderr
    assert all(rbd_world.status(name) == "deleted" for name in names)
    assert not set(names) & ceph.names()  # a removal killed half-way is finished by the rerun
