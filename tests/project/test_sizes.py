"""Small modules and short functions: no module of the package over 400 lines, no function or method
over 60.

A module's size is its number of lines. A function's is ``end_lineno - lineno + 1`` of its ``def``
(as :mod:`ast` gives them): from the ``def`` line to its last line, its decorators excluded (a click
command's options are counted nowhere), its docstring, comments and blank lines included, and the
functions nested in it counted with it (and again on their own).
"""

from __future__ import annotations

import ast
from pathlib import Path

import scrubctl

PACKAGE = Path(scrubctl.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Being split: modules and functions over the limits that are being shrunk elsewhere. Each entry is
# a path relative to the package, with ``:name`` for a function (``Class.method`` for a method).
ALLOWED: frozenset[str] = frozenset()


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method of ``tree``, nested ones included, each with its qualified name."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((prefix + node.name, node))
            found.extend(_functions(node, f"{prefix}{node.name}."))
        elif isinstance(node, ast.ClassDef):
            found.extend(_functions(node, f"{prefix}{node.name}."))
        else:
            found.extend(_functions(node, prefix))
    return found


def _length(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines, from its ``def`` to its last line (its decorators excluded)."""
    assert function.end_lineno is not None
    return function.end_lineno - function.lineno + 1


def offenders() -> dict[str, int]:
    """Each module and function over its limit, with its size in lines."""
    found: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found[relative] = lines
        for name, function in _functions(ast.parse(text, filename=relative)):
            length = _length(function)
            if length > MAX_FUNCTION_LINES:
                found[f"{relative}:{name}"] = length
    return found


def test_no_module_or_function_is_over_its_limit() -> None:
    over = {name: size for name, size in offenders().items() if name not in ALLOWED}
    assert over == {}, f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function: {over}"


def test_every_allowed_offender_is_still_one() -> None:
    """An entry of ALLOWED that is now within its limit (or gone) is taken out of the list."""
    assert set(offenders()) >= ALLOWED


def test_the_count_finds_long_functions_nested_ones_and_methods_included() -> None:
    body = "\n".join(f"    x{index} = {index}" for index in range(MAX_FUNCTION_LINES))
    source = f"@decorator\ndef long():\n{body}\n\n\ndef short():\n    return 1\n"
    functions = dict(_functions(ast.parse(source)))
    assert set(functions) == {"long", "short"}
    assert _length(functions["long"]) == MAX_FUNCTION_LINES + 1
    assert _length(functions["short"]) == 2
    nested = dict(_functions(ast.parse("class A:\n    def method(self):\n        def inner():\n            pass\n")))
    assert set(nested) == {"A.method", "A.method.inner"}
