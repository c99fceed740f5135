"""The built-in deleters are named twice, in ``BUILTIN_DELETERS`` (a checkout never installed finds
them) and in ``pyproject.toml``'s ``scrubctl.deleters`` entry points (how a third party registers
one): the two lists agree, and the third-party example of CONTRIBUTING.md and of the package's
docstring registers a scheme no built-in owns (one a built-in owns would be ignored)."""

from __future__ import annotations

import re
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from scrubctl import backends
from scrubctl.backends import BUILTIN_DELETERS, ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")


def test_the_built_in_deleters_are_the_entry_points_of_pyproject() -> None:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        declared = tomllib.load(handle)["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert declared == BUILTIN_DELETERS


def test_the_installed_entry_points_name_the_built_in_deleters() -> None:
    installed = {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}
    assert {scheme: installed.get(scheme) for scheme in BUILTIN_DELETERS} == BUILTIN_DELETERS


def registered(example: str) -> dict[str, str]:
    """The deleters an example's ``scrubctl.deleters`` entry points register."""
    entries: dict[str, str] = tomllib.loads(example)["project"]["entry-points"][ENTRY_POINT_GROUP]
    return entries


def test_the_third_party_examples_register_a_scheme_no_built_in_owns() -> None:
    guide = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = guide.split("## Adding a deleter", 1)[1].split("\n## ", 1)[0]
    shown = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert shown is not None, "CONTRIBUTING.md's section shows no entry point"
    docstring = re.search(r"::\n\n(.*?)\n\n", backends.__doc__ or "", re.DOTALL)
    assert docstring is not None, "the package's docstring shows no entry point"
    for example in (shown.group(1), textwrap.dedent(docstring.group(1))):
        schemes = set(registered(example))
        assert schemes
        assert not schemes & set(BUILTIN_DELETERS)
