"""The container tier: scrubctl's image, built by ``scripts/build-image``, run with podman exactly as
the recipes in ``deploy/`` say.

``scripts/test`` builds the image (reused when its inputs did not change) and exports its reference
as ``SCRUBCTL_TEST_IMAGE``; without it the tier is skipped (or fails, when it is required). To run
it by hand: ``SCRUBCTL_TEST_IMAGE=$(scripts/build-image | tail -n 1) pytest -m container``.
The kolla-ansible units are read from ``deploy/kolla/scrubctl.service`` (their host paths moved
under a test folder, the ``glance`` volume replaced by a test volume); the CronJob's containers from
``deploy/kubernetes/cronjob.yaml``, each Secret, ConfigMap and volume a folder laid out as the kubelet
lays them out.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tier

ROOT = Path(__file__).resolve().parents[2]
IMAGE_VARIABLE = "SCRUBCTL_TEST_IMAGE"
KOLLA_UNIT = ROOT / "deploy" / "kolla" / "scrubctl.service"
CRONJOB = ROOT / "deploy" / "kubernetes" / "cronjob.yaml"
RUN_TIMEOUT = 300


@cache
def containers_conf() -> str:
    """``CONTAINERS_CONF`` as ``ensure_podman`` (scripts/lib.sh) sets it for this machine."""
    if "CONTAINERS_CONF" in os.environ:
        return os.environ["CONTAINERS_CONF"]
    script = f'source {shlex.quote(str(ROOT / "scripts/lib.sh"))} && ensure_podman && printf %s "$CONTAINERS_CONF"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        require_tier("container", f"podman cannot be set up: {done.stderr.strip()[-300:]}")
    return done.stdout


def podman_environment() -> dict[str, str]:
    """The environment podman needs on this machine."""
    return {**os.environ, "CONTAINERS_CONF": containers_conf()}


def podman(*args: str, check: bool = True, timeout: int = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``podman`` with this machine's settings; output captured."""
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=podman_environment(), timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {shlex.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def run_command(argv: Sequence[str], timeout: int = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run a recipe's command line (its engine included) with this machine's podman settings."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, env=podman_environment(), timeout=timeout, check=False
    )


@pytest.fixture(scope="session", name="image")
def image_fixture() -> str:
    """The image's reference, from ``SCRUBCTL_TEST_IMAGE`` (``scripts/test`` sets it to what
    ``scripts/build-image`` printed last)."""
    reference = os.environ.get(IMAGE_VARIABLE)
    if not reference:
        require_tier("container", f"{IMAGE_VARIABLE} is not set (scripts/test builds the image and sets it)")
    if os.geteuid() != 0:
        require_tier("container", "the container tier runs podman as root")
    if podman("image", "exists", str(reference), check=False).returncode != 0:
        require_tier("container", f"{IMAGE_VARIABLE}={reference}: no such image")
    return str(reference)


@pytest.fixture(name="glance_volume")
def glance_volume_fixture() -> Iterator[tuple[str, Path]]:
    """A named volume standing for kolla's ``glance`` volume: its name and its folder on the host."""
    name = f"scrubctl-test-glance-{uuid.uuid4().hex[:12]}"
    podman("volume", "create", name)
    try:
        mountpoint = podman("volume", "inspect", "--format", "{{.Mountpoint}}", name).stdout.strip()
        yield name, Path(mountpoint)
    finally:
        podman("volume", "rm", "--force", name, check=False)


# -- the kolla-ansible units ------------------------------------------------------------------------


def unit_commands(path: Path) -> dict[str, list[list[str]]]:
    """The ``Exec*=`` command lines of a unit file, by setting (continuation lines joined)."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("#", ";")) and not pending:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    commands: dict[str, list[list[str]]] = {}
    for line in logical:
        key, separator, value = line.partition("=")
        if separator and key.startswith("Exec"):
            commands.setdefault(key, []).append(shlex.split(value.lstrip("-@+!")))
    return commands


def relocated(argv: Sequence[str], host_root: Path, volumes: Mapping[str, str]) -> list[str]:
    """A unit's command line with every host path moved under ``host_root`` and each named volume
    replaced by the test's; everything else (options, container paths, the image) unchanged."""
    result = [argv[0]]
    words = iter(argv[1:])
    for word in words:
        if word in ("--volume", "-v"):
            source, _, rest = next(words).partition(":")
            if source.startswith("/"):
                source = f"{host_root}{source}"
            else:
                assert source in volumes, f"the unit mounts a named volume the test does not know: {source}"
                source = volumes[source]
            result += [word, f"{source}:{rest}"]
        elif word.startswith("/") and argv[0].endswith("install"):
            result.append(f"{host_root}{word}")
        else:
            result.append(word)
    return result


def split_at_image(argv: Sequence[str], image: str) -> tuple[list[str], list[str]]:
    """``podman run ... IMAGE`` and the scrubctl arguments after it."""
    assert image in argv, f"the unit runs another image than {image}: {shlex.join(argv)}"
    index = list(argv).index(image)
    return list(argv[: index + 1]), list(argv[index + 1 :])


# -- the Kubernetes CronJob -------------------------------------------------------------------------


def cronjob_documents() -> list[dict[str, Any]]:
    """Every document of ``deploy/kubernetes/cronjob.yaml``."""
    import yaml

    return [document for document in yaml.safe_load_all(CRONJOB.read_text(encoding="utf-8")) if document]


def config_maps() -> dict[str, dict[str, str]]:
    """The data of each ConfigMap ``deploy/kubernetes/cronjob.yaml`` defines, by name."""
    return {
        document["metadata"]["name"]: document["data"]
        for document in cronjob_documents()
        if document["kind"] == "ConfigMap"
    }


def pod_spec() -> dict[str, Any]:
    """The CronJob's pod template spec."""
    (cronjob,) = [document for document in cronjob_documents() if document["kind"] == "CronJob"]
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def kubelet_files(directory: Path, files: Mapping[str, str], mode: int, group: int) -> Path:
    """A Secret or ConfigMap volume as the kubelet writes one: the files in a timestamped folder,
    ``..data`` pointing at it, and one link per key; owned by root and the pod's fsGroup."""
    payload = directory / "..2026_01_01_00_00_00.000000000"
    payload.mkdir(parents=True)
    for key, content in files.items():
        (payload / key).write_text(content, encoding="utf-8")
        os.chown(payload / key, 0, group)
        (payload / key).chmod(mode)
        (directory / key).symlink_to(Path("..data") / key)
    (directory / "..data").symlink_to(payload.name)
    os.chown(directory, 0, group)
    directory.chmod(0o755)
    return directory


def pod_volumes(spec: Mapping[str, Any], root: Path, contents: Mapping[str, Mapping[str, str]]) -> dict[str, Path]:
    """One host folder per volume of the pod: Secrets and ConfigMaps with ``contents[name]`` (by the
    Secret's or ConfigMap's name), emptyDirs empty and writable, claims owned by the fsGroup."""
    group = int(spec["securityContext"].get("fsGroup", 0))
    folders: dict[str, Path] = {}
    for volume in spec["volumes"]:
        folder = root / volume["name"]
        if "secret" in volume or "configMap" in volume:
            source = volume.get("secret") or volume["configMap"]
            name = source.get("secretName") or source["name"]
            assert name in contents, f"no test content for {name}"
            default_mode = source.get("defaultMode", 0o644)
            mode = default_mode | (0o040 if group else 0)
            kubelet_files(folder, contents[name], mode, group)
        elif "emptyDir" in volume:
            folder.mkdir(parents=True)
            folder.chmod(0o777)
        elif "persistentVolumeClaim" in volume:
            folder.mkdir(parents=True)
            os.chown(folder, 0, group)
            folder.chmod(0o2775)
        else:
            raise AssertionError(f"a volume kind the test cannot lay out: {volume}")
        folders[volume["name"]] = folder
    return folders


def container_flags(spec: Mapping[str, Any], container: Mapping[str, Any], folders: Mapping[str, Path]) -> list[str]:
    """``podman run`` options that give the container what the kubelet would: its user and groups,
    security settings, resources, environment and mounts. Only the network differs: the host's, where
    the test's database and stores listen (a pod reaches them through Services)."""
    pod_security = spec.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    assert security.get("runAsNonRoot") is True and int(security["runAsUser"]) != 0
    flags = ["--rm", "--network", "host", "--hostname", "scrubctl-test-pod"]
    flags += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}"]
    for group in [pod_security.get("fsGroup"), *pod_security.get("supplementalGroups", [])]:
        if group is not None:
            flags += ["--group-add", str(group)]
    if security.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]  # no tmpfs on /tmp, /run: a pod has none
    if security.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    for capability in security.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", capability.lower()]
    assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault"  # podman's default profile
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        flags += ["--memory", str(limits["memory"]).replace("Mi", "m").replace("Gi", "g")]
    if "cpu" in limits:
        cpu = str(limits["cpu"])
        flags += ["--cpus", str(int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu))]
    for variable in container.get("env", []):
        flags += ["--env", f"{variable['name']}={variable['value']}"]
    for mount in container.get("volumeMounts", []):
        source = folders[mount["name"]]
        if "subPath" in mount:
            source = (source / mount["subPath"]).resolve()
        flags += ["--volume", f"{source}:{mount['mountPath']}" + (":ro" if mount.get("readOnly") else "")]
    if "command" in container:
        flags += ["--entrypoint", container["command"][0]]
    return flags


def container_argv(spec: Mapping[str, Any], container: Mapping[str, Any], folders: Mapping[str, Path]) -> list[str]:
    """``podman run`` of one of the pod's containers, with its image, command and arguments."""
    arguments = [*container.get("command", [])[1:], *container.get("args", [])]
    return ["podman", "run", *container_flags(spec, container, folders), container["image"], *arguments]
