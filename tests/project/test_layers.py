"""The package's layers, read from its imports: no import runs back up, no circle between folders, and
the core imports neither click nor rich.

Every ``import`` of a module counts, at module level and inside functions (the commands import the
core inside their callbacks) and under ``TYPE_CHECKING`` alike. A module belongs to its folder under
``scrubctl/`` (``scrubctl/glance/pending.py`` to ``glance``); a module directly in ``scrubctl/`` is
a unit of its own (``errors``, ``app``). The layers, lowest first:

1. ``scrubctl`` (the package itself: its version) and ``errors``: the exception hierarchy;
2. ``settings``: configuration, secrets, printable text, ages, time;
3. ``glance`` (Glance's database) and ``backends`` (the deleters) beside it;
4. ``coordination``: claims and retried transactions;
5. the engines: ``engine``, ``restore``, ``orphans``, ``broken``, and ``unattended``, ``sandbox``;
6. ``output``: every view, and the one place rich is imported;
7. ``commands``, with ``app`` and ``options`` beside them;
8. ``cli`` and ``__main__``;
9. ``testing``: the contract suites a deleter or an inventory reruns, which drive the whole tool as an
   operator does (``scrubctl orphans``), from above.

A module may import from its own layer and the layers below it, never from one above. Folders of one
layer may use each other one way only (``broken`` uses ``restore`` and ``orphans``; the engines use
``unattended``'s audit trail, so ``unattended`` uses no engine): the graph of imports between folders
has no circle, at any layer, nor has the graph between modules, within a folder too. Everything below
``output`` is the core and imports neither click nor rich; ``output`` imports no click.

A new folder goes into ``LAYERS`` below, at the layer it belongs to; a module the test cannot place
fails it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "scrubctl"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"scrubctl", "errors"}),
    frozenset({"settings"}),
    frozenset({"glance", "backends"}),
    frozenset({"coordination"}),
    frozenset({"engine", "restore", "orphans", "broken", "unattended", "sandbox"}),
    frozenset({"output"}),
    frozenset({"commands", "app", "options"}),
    frozenset({"cli", "__main__"}),
    frozenset({"testing"}),
)
CORE_LAYERS = 5  # the layers below output
UI_LIBRARIES = ("click", "rich")

# Imports known to break the rule, each with the reason it is still here and the work that removes
# it: (importing module, imported module). Empty: every import follows the layers.
EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()
# Circles between modules of one folder, each named by the import that closes it, with the work that
# removes it.
MODULE_CIRCLE_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written in a module of the package."""

    module: str  # the importing module, dotted (``scrubctl.glance.pending``)
    target: str  # the imported module or package, dotted
    path: str  # the importing file, from the package's parent (``scrubctl/glance/pending.py``)
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


def module_name(path: Path, package: Path) -> str:
    """``scrubctl/glance/pending.py`` -> ``scrubctl.glance.pending``; a package's ``__init__`` is
    the package."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, package: Path) -> Iterator[Import]:
    """Every import in the module at ``path``, at any depth (functions, ``TYPE_CHECKING`` blocks),
    relative ones resolved; ``from package import name`` counts as importing ``package.name`` when
    that is a module."""
    module = module_name(path, package)
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    shown = path.relative_to(package.parent).as_posix()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, shown, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                is_module = _module_path(submodule, package) is not None
                yield Import(module, submodule if is_module else target, shown, node.lineno)


def _module_path(name: str, package: Path) -> Path | None:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    for candidate in (package / relative / "__init__.py", (package / relative).with_suffix(".py")):
        if name.startswith(package.name) and candidate.is_file():
            return candidate
    return None


def unit(module: str) -> str:
    """The folder (or top-level module) a module of the package belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(module: str) -> int:
    """The layer of a module of the package; a failure for a module no layer names."""
    for index, layer in enumerate(LAYERS):
        if unit(module) in layer:
            return index
    pytest.fail(f"{module} belongs to no layer: add its folder to LAYERS in {Path(__file__).name}")


def package_imports(package: Path = PACKAGE) -> list[Import]:
    """Every import in every module of ``package``."""
    return [found for path in sorted(package.rglob("*.py")) for found in imports_of(path, package)]


def internal(found: Import, package: Path) -> bool:
    return found.target == package.name or found.target.startswith(package.name + ".")


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """The imports from a lower layer to a higher one."""
    return [
        found.where
        for found in package_imports(package)
        if internal(found, package)
        and layer_of(found.target) > layer_of(found.module)
        and (found.module, found.target) not in EXCEPTIONS
    ]


def folder_circles(package: Path = PACKAGE) -> list[list[str]]:
    """The circles in the graph of imports between folders, each as the folders it passes through."""
    graph: dict[str, set[str]] = {}
    for found in package_imports(package):
        if internal(found, package) and (found.module, found.target) not in EXCEPTIONS:
            source, target = unit(found.module), unit(found.target)
            if source != target:
                graph.setdefault(source, set()).add(target)
    return sorted(component for component in _strongly_connected(graph) if len(component) > 1)


def module_circles(package: Path = PACKAGE) -> list[list[str]]:
    """The circles in the graph of imports between modules (within a folder too)."""
    graph: dict[str, set[str]] = {}
    for found in package_imports(package):
        known = (found.module, found.target) in MODULE_CIRCLE_EXCEPTIONS
        if internal(found, package) and not known and found.module != found.target:
            graph.setdefault(found.module, set()).add(found.target)
    return sorted(component for component in _strongly_connected(graph) if len(component) > 1)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def ui_imports(package: Path = PACKAGE) -> list[str]:
    """Imports of click or rich from the core, and of click from ``output``."""
    wrong = []
    for found in package_imports(package):
        library = found.target.split(".")[0]
        layer = layer_of(found.module)
        if (library in UI_LIBRARIES and layer < CORE_LAYERS) or (library == "click" and unit(found.module) == "output"):
            wrong.append(found.where)
    return wrong


def test_no_import_runs_back_up() -> None:
    wrong = upward_imports()
    assert not wrong, "imports from a lower layer to a higher one:\n" + "\n".join(wrong)


def test_no_circle_between_folders() -> None:
    circles = folder_circles()
    assert not circles, "folders that import each other, directly or around a circle: " + repr(circles)


def test_no_circle_between_modules() -> None:
    assert module_circles() == []


def test_the_core_imports_neither_click_nor_rich() -> None:
    wrong = ui_imports()
    assert not wrong, "click or rich below commands and output:\n" + "\n".join(wrong)


def test_every_exception_is_still_needed() -> None:
    found = {(found.module, found.target) for found in package_imports()}
    assert sorted(EXCEPTIONS - found) == []
    assert sorted(MODULE_CIRCLE_EXCEPTIONS - found) == []
    graph: dict[str, set[str]] = {}
    for source, target in found:
        graph.setdefault(source, set()).add(target)
    for source, target in MODULE_CIRCLE_EXCEPTIONS:
        assert source in _reachable(graph, target), f"{source} -> {target} closes no circle any more: remove it"


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, waiting = {start}, [start]
    while waiting:
        for successor in graph.get(waiting.pop(), ()):
            if successor not in seen:
                seen.add(successor)
                waiting.append(successor)
    return seen


def _write(root: Path, files: dict[str, str]) -> Path:
    package = root / "scrubctl"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in [package, *(path for path in package.rglob("*") if path.is_dir())]:
        (folder / "__init__.py").touch()
    return package


def test_the_rules_catch_an_import_back_up_a_circle_and_rich_in_the_core(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "settings/config.py": "def load() -> None:\n    from scrubctl.glance import database\n",
            "glance/database.py": "from ..settings import config\n",
            "engine/runner.py": "from scrubctl.unattended.audit import Trail\n",
            "unattended/audit.py": "class Trail: ...\n",
            "unattended/metrics.py": "from scrubctl.engine import runner\nimport rich.text\n",
            "output/renderer.py": "import rich\nfrom click import echo\n",
            "commands/scrub.py": "import click\nfrom scrubctl.output import renderer\n",
        },
    )
    assert upward_imports(package) == ["scrubctl/settings/config.py:2 imports scrubctl.glance.database"]
    assert folder_circles(package) == [["engine", "unattended"], ["glance", "settings"]]
    assert module_circles(package) == [["scrubctl.glance.database", "scrubctl.settings.config"]]
    assert ui_imports(package) == [
        "scrubctl/output/renderer.py:2 imports click",
        "scrubctl/unattended/metrics.py:2 imports rich.text",
    ]


def test_a_module_in_no_layer_is_named(tmp_path: Path) -> None:
    package = _write(tmp_path, {"plugins/extra.py": "from scrubctl import errors\n"})
    with pytest.raises(pytest.fail.Exception, match=r"scrubctl\.plugins\.extra belongs to no layer"):
        upward_imports(package)
