"""The size limits the code is held to (a newcomer reads any one piece at a time).

In `app/`, `models/` and `training/`: no module over 300 lines, no class over 150, no function over 40.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "models", "training")
MODULE_LINES, CLASS_LINES, FUNCTION_LINES = 300, 150, 40


def oversized(source: str, name: str) -> list[str]:
    """What in one module's source is over its limit, one line each."""
    found = []
    if (n := len(source.splitlines())) > MODULE_LINES:
        found.append(f"{name}: module of {n} lines (limit {MODULE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            kind, limit = "class", CLASS_LINES
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kind, limit = "function", FUNCTION_LINES
        else:
            continue
        assert node.end_lineno is not None
        if (n := node.end_lineno - node.lineno + 1) > limit:
            found.append(f"{name}:{node.lineno}: {kind} {node.name} of {n} lines (limit {limit})")
    return found


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def test_every_package_has_modules() -> None:
    counts = {package: len(list((REPO / package).rglob("*.py"))) for package in PACKAGES}
    assert all(counts.values()), counts


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\n" * 301, ["m.py: module of 301 lines (limit 300)"]),
        ("x = 1\n" * 300, []),
        ("def f() -> None:\n" + "    pass\n" * 40, ["m.py:1: function f of 41 lines (limit 40)"]),
        ("class C:\n    async def f(self) -> None:\n" + "        pass\n" * 39, []),
        ("class C:\n" + "    x = 1\n" * 150, ["m.py:1: class C of 151 lines (limit 150)"]),
    ],
)
def test_the_check_sees_each_limit(source: str, expected: list[str]) -> None:
    assert oversized(source, "m.py") == expected


def test_no_module_class_or_function_is_over_its_limit() -> None:
    found = [line for path in modules() for line in oversized(path.read_text(), str(path.relative_to(REPO)))]
    assert not found, "\n".join(found)
