"""The built-in deleters are named twice, in ``BUILTIN_DELETERS`` (a checkout never installed finds
them) and in ``pyproject.toml``'s ``scrubctl.deleters`` entry points (how a third party registers
one): the two lists agree, and the README's third-party example registers a scheme no built-in owns
(one a built-in owns would be ignored)."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from scrubctl.backends import BUILTIN_DELETERS, ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")


def test_the_built_in_deleters_are_the_entry_points_of_pyproject() -> None:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        declared = tomllib.load(handle)["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert declared == BUILTIN_DELETERS


def test_the_installed_entry_points_name_the_built_in_deleters() -> None:
    installed = {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}
    assert {scheme: installed.get(scheme) for scheme in BUILTIN_DELETERS} == BUILTIN_DELETERS


def test_the_readme_registers_a_scheme_no_built_in_owns() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Adding a deleter", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert example is not None, "the section shows no entry point"
    registered = tomllib.loads(example.group(1))["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert registered
    assert not set(registered) & set(BUILTIN_DELETERS)
