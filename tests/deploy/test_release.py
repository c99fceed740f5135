"""The release artifacts as scripts/build-dist makes them (python -m build, twine check) from a fresh
copy of the tree, each installed into a fresh virtualenv (with the system's packages, for
rados/rbd) as an operator would: the same version everywhere, and a working ``check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from scrubctl import __version__
from tests.deploy.test_scripts import fresh_copy

pytestmark = pytest.mark.slow


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(word) for word in argv], capture_output=True, text=True, timeout=600, check=False, env=env
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stdout}{done.stderr}"
    return done.stdout


def install(artifact: Path, venv: Path) -> Path:
    """A virtualenv with the system's site packages holding ``artifact``; its scrubctl."""
    run("/usr/bin/python3", "-m", "venv", "--system-site-packages", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", artifact)
    return venv / "bin" / "scrubctl"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dist/`` of a fresh copy of this tree."""
    copy = fresh_copy(tmp_path_factory.mktemp("clone"))
    run(sys.executable, "-m", "build", "--outdir", copy / "dist", copy)
    return copy / "dist"


def test_build_makes_an_sdist_and_a_wheel_that_twine_accepts(dist: Path) -> None:
    names = sorted(path.name for path in dist.iterdir())
    assert names == [f"scrubctl-{__version__}-py3-none-any.whl", f"scrubctl-{__version__}.tar.gz"]
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore"}
    assert "PASSED" in run(sys.executable, "-m", "twine", "--no-color", "check", "--strict", *dist.iterdir(), env=quiet)
    with tarfile.open(dist / f"scrubctl-{__version__}.tar.gz") as sdist:
        members = {Path(name).relative_to(f"scrubctl-{__version__}").as_posix() for name in sdist.getnames()[1:]}
    assert {"CHANGELOG.md", "deploy/kolla/scrubctl.service", "deploy/kubernetes/cronjob.yaml"} <= members
    assert {"scrubctl/glance/sql/schema-mysql.sql", "scrubctl/glance/sql/schema-sqlite.sql"} <= members
    assert not any(name.startswith("tests/") for name in members)
    with zipfile.ZipFile(dist / f"scrubctl-{__version__}-py3-none-any.whl") as wheel:
        metadata = wheel.read(f"scrubctl-{__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata


def test_the_wheel_and_the_sdist_install_the_same_version_and_check_a_sandbox(dist: Path, tmp_path: Path) -> None:
    from_wheel = install(dist / f"scrubctl-{__version__}-py3-none-any.whl", tmp_path / "wheel-venv")
    from_sdist = install(dist / f"scrubctl-{__version__}.tar.gz", tmp_path / "sdist-venv")
    for scrubctl in (from_wheel, from_sdist):
        assert run(scrubctl, "--version").strip() == f"scrubctl, version {__version__}"
    run(from_wheel, "sandbox", tmp_path / "sandbox")
    environment = {**os.environ, "SCRUBCTL_CONFIG_FILE": str(tmp_path / "sandbox" / "glance-api.conf")}
    checked = run(from_wheel, "check", env=environment)
    assert "ok   database: sqlite" in checked
