"""The upstream package sits at the bottom: it imports only the errors, the clock and the logs."""

from __future__ import annotations

import ast
from pathlib import Path

import service.upstream

BELOW = {"service.basics.errors", "service.basics.clock", "service.basics.logs"}


def service_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return {n for n in names if n == "service" or n.startswith("service.")}


def test_no_upstream_module_imports_from_above_it() -> None:
    package = Path(service.upstream.__file__).parent
    upward = {
        f"{path.name} -> {name}"
        for path in package.glob("*.py")
        for name in service_imports(path)
        if not name.startswith("service.upstream") and name not in BELOW
    }
    assert upward == set()
