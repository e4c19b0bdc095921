"""The code base's shape, as the README promises it: small modules, short functions, and
no import cycles between the project's modules (the layers themselves are `lint-imports`'s
job, in `make test`)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "marketstream",
    "prices",
    "screeners",
    "orders",
    "alerts",
    "portfolio",
    "accounts",
    "webhooks",
    "dhan",
)
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 40
# A function may run longer only if it says why in a comment starting with this (a codec's
# hot loop, where a call per field costs more than the length).
LONG_FUNCTION_MARK = "# long function:"


def sources() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_no_module_is_over_300_lines():
    big = {
        str(p.relative_to(ROOT)): n
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert big == {}


def test_no_function_is_over_40_lines_unless_it_says_why():
    long = []
    for path in sources():
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                if length > MAX_FUNCTION_LINES and LONG_FUNCTION_MARK not in body:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert long == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in graph.modules:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


@pytest.mark.timeout(60)
def test_no_import_cycles_between_the_projects_modules():
    graph = grimp.build_graph(*PACKAGES)
    for package in PACKAGES:  # a package's __init__ is not a module of its own here
        graph.remove_module(
            package
        ) if package in graph.modules and not graph.find_modules_directly_imported_by(
            package
        ) else None
    assert _cycles(graph) == []
