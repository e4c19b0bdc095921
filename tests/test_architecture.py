"""The code base's shape, as the README promises it: small modules and short functions. The
layers and the absence of import cycles are `lint-imports`'s job (pyproject.toml's
contracts, an `acyclic_siblings` one for cycles), in `make test`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "marketstream",
    "prices",
    "history",
    "screeners",
    "streams",
    "orders",
    "alerts",
    "portfolio",
    "accounts",
    "webhooks",
    "gateway",
    "dhan",
)
MAX_MODULE_LINES = 280
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


def test_no_module_is_over_280_lines():
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
