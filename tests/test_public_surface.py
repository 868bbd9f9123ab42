"""Tests read public behaviour: no test imports a private name or reads a private attribute.

Every .py file under tests/ is checked (fixtures and helpers too): a private name imported from
`service`, `obj._name` on anything, `getattr(obj, "_name")` and its kin, a dotted string such as
monkeypatch.setattr("service.x._name", ...), and `vars(obj)` / `obj.__dict__`, which read
everything private at once.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
BY_NAME = {"getattr", "setattr", "hasattr", "delattr"}
DOTTED_PRIVATE = re.compile(r"^service(\.\w+)*\._\w+")


def private_reads(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("service"):
            found += [f"import {a.name}" for a in node.names if _private(a.name)]
            if any(_private(part) for part in (node.module or "").split(".")):
                found.append(f"line {node.lineno}: from {node.module}")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.startswith("service") and any(map(_private, a.name.split(".")))
            ]
        elif isinstance(node, ast.Attribute) and (_private(node.attr) or node.attr == "__dict__"):
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found += _private_by_name(node)
        elif isinstance(node, ast.Constant) and DOTTED_PRIVATE.match(str(node.value)):
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def _private_by_name(call: ast.Call) -> list[str]:
    name = call.func.id  # type: ignore[attr-defined]
    if name == "vars" and call.args:
        return [f"line {call.lineno}: vars(...)"]
    if name in BY_NAME and len(call.args) >= 2:
        attr = call.args[1]
        if isinstance(attr, ast.Constant) and isinstance(attr.value, str) and _private(attr.value):
            return [f"line {call.lineno}: {name}(..., {attr.value!r})"]
    return []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_test_reads_a_private_name() -> None:
    reads = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := private_reads(path.read_text()))
    }
    assert reads == {}


@pytest.mark.parametrize(
    "source",
    [
        "from service.cache import _Entry",
        "from service.runs._internal import x",
        "import service.runs._internal",
        "hub._watches",
        "svc.hub.__dict__",
        "vars(svc.cache)",
        "getattr(svc, '_client')",
        "setattr(svc, '_client', None)",
        "hasattr(svc, '_client')",
        "monkeypatch.setattr('service.upstream.retry._jitter', lambda: 0)",
    ],
)
def test_each_way_of_reading_a_private_name_is_caught(source: str) -> None:
    assert private_reads(source)


@pytest.mark.parametrize(
    "source",
    [
        "from service.cache import ReadCache",
        "response.__class__",
        "getattr(upstream, method.lower())",
        "getattr(args, 'config', None)",
        "'service.upstream.retry'",
        "monkeypatch.setenv('DATABRICKS_HOST', 'x')",
    ],
)
def test_public_reads_pass(source: str) -> None:
    assert private_reads(source) == []
