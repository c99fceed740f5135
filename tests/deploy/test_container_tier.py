"""The container tier: the image, run with podman exactly as the kolla-ansible units and the
Kubernetes CronJob in ``deploy/`` say, against the real MariaDB and the test Ceph with its radosgw.

What an operator would notice: exit codes, the JSON of list-pending, the rows and the data in each
store (file, rbd, swift, s3) before and after, the audit log and the metrics file (written by uid
42415 through a read-only root file system), and that no secret shows up in output or in the image.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from scrubctl import __version__
from tests.support.cloud import KOLLA_UID, Cloud
from tests.support.containers import (
    KOLLA_UNIT,
    config_maps,
    container_argv,
    pod_spec,
    pod_volumes,
    podman,
    podman_environment,
    relocated,
    run_command,
    split_at_image,
    unit_commands,
)

pytestmark = pytest.mark.container
IMAGE_LIMIT_BYTES = 250 * 1000 * 1000


def assert_no_secret(cloud: Cloud, text: str) -> None:
    for name, value in cloud.secrets().items():
        assert value not in text, f"the {name} is in the output"


def assert_scrubbed_every_store(cloud: Cloud, output: str) -> None:
    assert set(cloud.statuses().values()) == {"deleted"}, output
    assert not any(cloud.data_present().values()), (cloud.data_present(), output)


# -- the image --------------------------------------------------------------------------------------


def test_the_image_runs_scrubctl_of_this_tree_as_glance_within_its_size(image: str) -> None:
    assert image.endswith(f":{__version__}")
    version = podman("run", "--rm", "--read-only", image, "--version")
    assert version.stdout.strip() == f"scrubctl, version {__version__}"
    identity = podman("run", "--rm", "--read-only", "--entrypoint", "id", image)
    assert identity.stdout.startswith(f"uid={KOLLA_UID}(glance) gid={KOLLA_UID}(glance)")
    bindings = podman("run", "--rm", "--read-only", "--entrypoint", "python3", image, "-c", "import rados, rbd")
    assert bindings.returncode == 0
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size <= IMAGE_LIMIT_BYTES, f"the image is {size / 1e6:.0f} MB"


def image_contents(image: str) -> tuple[bytes, str]:
    """Every file of the image (``podman export`` of a container made from it), and its environment,
    labels and history as text."""
    container = podman("create", image).stdout.strip()
    try:
        exported = subprocess.run(
            ["podman", "export", container], capture_output=True, check=True, env=podman_environment(), timeout=300
        ).stdout
    finally:
        podman("rm", container, check=False)
    metadata = podman("image", "inspect", image).stdout
    history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Comment}}", image).stdout
    return exported, metadata + history


def leaked(exported: bytes, metadata: str, secrets: dict[str, str]) -> list[str]:
    """The secrets found in the image's files or metadata."""
    found = [f"{name} in the metadata" for name, value in secrets.items() if value in metadata]
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        for member in archive:
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            content = handle.read() if handle else b""
            found += [f"{name} in {member.name}" for name, value in secrets.items() if value.encode() in content]
    return found


def test_no_test_secret_is_in_the_image(image: str, cloud: Cloud, tmp_path: Path) -> None:
    secrets = cloud.secrets()
    exported, metadata = image_contents(image)
    assert leaked(exported, metadata, secrets) == []
    # The same look finds a secret put into an image's files, environment or history.
    canary = {"canary": "scrubctl-canary-" + os.urandom(8).hex()}
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "leak.conf").write_text(f"secret = {canary['canary']}\n")
    (tmp_path / "context" / "Containerfile").write_text(
        f"FROM {image}\nCOPY leak.conf /etc/leak.conf\nENV LEAK={canary['canary']}\n"
    )
    derived = f"localhost/scrubctl-leak-test:{os.urandom(4).hex()}"
    podman("build", "--tag", derived, str(tmp_path / "context"))
    try:
        exported, metadata = image_contents(derived)
        assert sorted(leaked(exported, metadata, canary)) == ["canary in etc/leak.conf", "canary in the metadata"]
    finally:
        podman("rmi", derived, check=False)


# -- kolla-ansible: deploy/kolla/scrubctl.service ---------------------------------------------------


def kolla_host(root: Path, cloud: Cloud) -> None:
    """/etc/kolla/glance-api/ as kolla-ansible leaves it: owned by root, folders 0770, files 0660."""
    config = root / "etc/kolla/glance-api"
    (config / "ceph").mkdir(parents=True)
    files = {
        config / "glance-api.conf": cloud.glance_api_conf("kolla"),
        config / "glance-swift.conf": cloud.swift_references(),
        config / "config.json": '{"command": "uwsgi /etc/glance/glance-api-uwsgi.ini"}\n',
        config / "ceph/ceph.conf": cloud.ceph_conf(),
        config / "ceph/ceph.client.glance.keyring": cloud.keyring(),
    }
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
        os.chown(path, 0, 0)
        path.chmod(0o660)
    for folder in (config, config / "ceph"):
        os.chown(folder, 0, 0)
        folder.chmod(0o770)


def glance_volume_layout(folder: Path) -> Path:
    """The glance volume as kolla's glance-api container leaves it: its folders owned by glance."""
    for name in ("images", "staging", "tasks_work_dir"):
        (folder / name).mkdir()
        os.chown(folder / name, KOLLA_UID, KOLLA_UID)
    return folder / "images"


@pytest.fixture
def kolla(cloud: Cloud, glance_volume: tuple[str, Path], image: str, tmp_path: Path) -> dict[str, Any]:
    """A kolla-ansible controller under ``tmp_path/host``, and the unit's commands moved there."""
    volume_name, volume_folder = glance_volume
    host = tmp_path / "host"
    kolla_host(host, cloud)
    cloud.add_images(file_folder=glance_volume_layout(volume_folder))
    commands = unit_commands(KOLLA_UNIT)
    (start,) = commands["ExecStart"]
    run, arguments = split_at_image(relocated(start, host, {"glance": volume_name}), image)
    for prepare in commands["ExecStartPre"]:
        subprocess.run(relocated(prepare, host, {}), check=True)
    return {"host": host, "run": run, "arguments": arguments}


def test_the_kolla_timer_checks_lists_and_scrubs_every_store_kind(cloud: Cloud, kolla: dict[str, Any]) -> None:
    run: list[str] = kolla["run"]
    assert {"--read-only", f"{KOLLA_UID}:{KOLLA_UID}"} <= set(run)
    check = run_command([*run, "check"])
    assert check.returncode == 0, check.stdout + check.stderr
    assert_no_secret(cloud, check.stdout + check.stderr)

    listed = run_command([*run, "list-pending", "-f", "json"])
    assert listed.returncode == 0, listed.stderr
    by_id = {item["id"]: item for item in json.loads(listed.stdout)}
    assert set(by_id) == set(cloud.images.values())
    assert {kind: by_id[image_id]["stores"] for kind, image_id in cloud.images.items()} == {
        kind: [kind] for kind in cloud.images
    }

    dry_run = run_command([*run, "scrub", "--dry-run"])
    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr
    assert set(cloud.statuses().values()) == {"pending_delete"}
    assert all(cloud.data_present().values())

    scrub = run_command([*run, *kolla["arguments"]])  # the unit's own command line
    output = scrub.stdout + scrub.stderr
    assert scrub.returncode == 0, output
    assert_scrubbed_every_store(cloud, output)
    assert_no_secret(cloud, output)

    audit = kolla["host"] / "var/log/kolla/scrubctl/audit.jsonl"
    assert audit.stat().st_uid == KOLLA_UID and stat.S_IMODE(audit.stat().st_mode) == 0o600
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    erased = {record["image_id"] for record in records if record["action"] == "erase"}
    assert erased == set(cloud.images.values())
    assert_no_secret(cloud, audit.read_text())
    metrics = (kolla["host"] / "var/lib/node_exporter/textfile_collector/scrubctl.prom").read_text()
    assert f'scrubctl_last_run_images{{result="scrubbed"}} {len(cloud.images)}' in metrics


def test_kollas_files_are_read_through_roots_group_and_no_mode_changes(cloud: Cloud, kolla: dict[str, Any]) -> None:
    config = kolla["host"] / "etc/kolla/glance-api"
    modes = {path: (path.stat().st_mode, path.stat().st_uid, path.stat().st_gid) for path in config.rglob("*")}
    run: list[str] = kolla["run"]
    position = run.index("--group-add")
    without_group = run[:position] + run[position + 2 :]
    refused = run_command([*without_group, "check"])
    assert refused.returncode == 3
    assert "glance-api.conf" in refused.stderr and "Permission denied" in refused.stderr
    assert run_command([*run, "check"]).returncode == 0
    assert {path: (path.stat().st_mode, path.stat().st_uid, path.stat().st_gid) for path in modes} == modes


# -- Kubernetes: deploy/kubernetes/cronjob.yaml -----------------------------------------------------


def test_the_cronjobs_containers_scrub_every_store_kind(cloud: Cloud, image: str, tmp_path: Path) -> None:
    spec = pod_spec()
    contents = {
        "glance-etc": {
            "glance-api.conf": cloud.glance_api_conf("openstack-helm"),
            "swift-store.conf": cloud.swift_references(),
            "policy.yaml": "{}\n",
        },
        "ceph-etc": {"ceph.conf": cloud.ceph_conf()},
        "images-rbd-keyring": {"key": cloud.key()},
        **config_maps(),  # those the manifest defines itself
    }
    folders = pod_volumes(spec, tmp_path / "pod", contents)
    cloud.add_images(file_folder=None)
    for container in [*spec["initContainers"], *spec["containers"]]:
        assert container["image"] == image
    (keyring,) = spec["initContainers"]
    placed = run_command(container_argv(spec, keyring, folders))
    assert placed.returncode == 0, placed.stderr
    (scrubctl,) = spec["containers"]
    for arguments in (["check"], ["list-pending", "-f", "json"], ["scrub", "--dry-run"]):
        step = run_command([*container_argv(spec, {**scrubctl, "args": arguments}, folders)])
        assert step.returncode == 0, step.stdout + step.stderr
        assert_no_secret(cloud, step.stdout + step.stderr)
    assert set(cloud.statuses().values()) == {"pending_delete"}

    scrub = run_command(container_argv(spec, scrubctl, folders))  # the CronJob's own arguments
    output = scrub.stdout + scrub.stderr
    assert scrub.returncode == 0, output
    assert_scrubbed_every_store(cloud, output)
    assert_no_secret(cloud, output)
    records = [json.loads(line) for line in (folders["audit"] / "audit.jsonl").read_text().splitlines()]
    assert {record["image_id"] for record in records if record["action"] == "erase"} == set(cloud.images.values())
