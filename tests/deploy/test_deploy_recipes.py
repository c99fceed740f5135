"""The recipes in ``deploy/``, checked without running them (the container tier runs them): the
kolla-ansible units are what ``systemd-units --container`` writes and systemd accepts them; the
CronJob is valid against Kubernetes' API schema and has the settings an operator relies on; the
Kustomize overlay of docs/how-to/deploy-kubernetes.md renders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scrubctl import __version__
from scrubctl.unattended.container_units import (
    DEFAULT_IMAGE,
    ContainerUnitOptions,
    container_service_unit,
    container_timer_unit,
)
from tests.support.containers import CRONJOB, KOLLA_UNIT, ROOT, cronjob_documents, pod_spec, unit_commands
from tests.support.world import invoke

OLDEST_KUBERNETES = "1.29.0"


def test_the_kolla_units_are_the_generated_defaults_and_systemd_accepts_them() -> None:
    assert KOLLA_UNIT.read_text() == container_service_unit(ContainerUnitOptions())
    assert KOLLA_UNIT.with_suffix(".timer").read_text() == container_timer_unit(ContainerUnitOptions())
    assert f"localhost/scrubctl:{__version__}" == DEFAULT_IMAGE
    (start,) = unit_commands(KOLLA_UNIT)["ExecStart"]
    assert start[:2] == ["/usr/bin/podman", "run"] and DEFAULT_IMAGE in start
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/test installs Debian's systemd package)")
    for unit in (KOLLA_UNIT, KOLLA_UNIT.with_suffix(".timer")):
        verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert verified.returncode == 0 and "scrubctl" not in verified.stderr, verified.stderr


def test_systemd_units_container_writes_the_units_for_an_image_and_an_engine(tmp_path: Path) -> None:
    result = invoke(
        [
            "systemd-units",
            "--container",
            "registry.example/scrubctl:1",
            "--engine",
            "docker",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.stderr
    service = (tmp_path / "scrubctl.service").read_text()
    assert "Requires=docker.service" in service
    (start,) = unit_commands(tmp_path / "scrubctl.service")["ExecStart"]
    (shipped,) = unit_commands(KOLLA_UNIT)["ExecStart"]
    image = shipped.index(DEFAULT_IMAGE)
    assert start == ["/usr/bin/docker", *shipped[1:image], "registry.example/scrubctl:1", *shipped[image + 1 :]]
    refused = invoke(["systemd-units", "--container", "x", "--user", "root"])
    assert refused.exit_code == 2 and refused.stderr.startswith("scrubctl: error: --user does not apply")
    assert refused.stdout == ""


def test_the_cronjob_is_valid_for_kubernetes_1_29_and_later() -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import all_versions, latest_version

    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    assert (schemas / f"v{OLDEST_KUBERNETES}-local-strict").is_dir()  # with the package: nothing is fetched
    assert OLDEST_KUBERNETES in all_versions()
    for version in (OLDEST_KUBERNETES, latest_version()):
        for document in cronjob_documents():
            kubernetes_validate.validate(document, version, strict=True)


def test_the_cronjob_is_hardened_and_mounts_what_glance_api_pods_mount() -> None:
    (cronjob,) = [document for document in cronjob_documents() if document["kind"] == "CronJob"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["startingDeadlineSeconds"] > 0
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0 and job["activeDeadlineSeconds"] > 0
    spec = pod_spec()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*spec["initContainers"], *spec["containers"]]:
        assert container["image"] == DEFAULT_IMAGE
        assert set(container["resources"]) == {"requests", "limits"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    sources = {
        volume["name"]: volume.get("secret", {}).get("secretName") or volume.get("configMap", {}).get("name")
        for volume in spec["volumes"]
    }
    mounted: dict[str, Any] = {
        mount["mountPath"]: sources[mount["name"]]
        for container in [*spec["initContainers"], *spec["containers"]]
        for mount in container["volumeMounts"]
    }
    assert mounted["/etc/glance/glance-api.conf"] == "glance-etc"
    assert mounted["/etc/ceph/ceph.conf"] == "ceph-etc"
    assert mounted["/tmp/client-keyring"] == "images-rbd-keyring"


def documented_overlay() -> str:
    """The Kustomize overlay docs/how-to/deploy-kubernetes.md shows."""
    text = (ROOT / "docs" / "how-to" / "deploy-kubernetes.md").read_text()
    section = text.split("## A Kustomize overlay", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_documented_kustomize_overlay_renders_a_valid_cronjob(tmp_path: Path) -> None:
    import kubernetes_validate
    import yaml

    overlay = documented_overlay()
    assert "  - ../scrubctl\n" in overlay  # the base, copied next to the overlay
    base = os.path.relpath(CRONJOB.parent, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(overlay.replace("  - ../scrubctl\n", f"  - {base}\n"))
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (its kustomize renders the overlay)")
    rendered = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    documents = [document for document in yaml.safe_load_all(rendered.stdout) if document]
    for document in documents:
        kubernetes_validate.validate(document, OLDEST_KUBERNETES, strict=True)
    (cronjob,) = [document for document in documents if document["kind"] == "CronJob"]
    assert cronjob["metadata"]["namespace"] == "openstack"
    images = {
        container["image"] for container in cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"registry.example.com/openstack/scrubctl:{__version__}"}
