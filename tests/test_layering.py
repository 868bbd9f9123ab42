"""The packages of service/ in layers: each imports only the layers below it, and no cycle.

A package (or a module directly in service/) may import itself and the layers below its own;
packages that share a layer import neither each other nor anything above. Every import counts:
at module level, inside a function, and under `if TYPE_CHECKING:` (a type-only import is still
a dependency that a reader follows and that a refactoring turns into a runtime one).
`docs/architecture.md` draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[1] / "service"
ROOT = "(service)"  # service/__init__.py: the public surface, above everything it re-exports

# Bottom to top.
LAYERS: list[tuple[str, ...]] = [
    # A workspace of its own, and the HTTP client of a running sidecar: neither imports anything
    # else of the service.
    ("emulator", "client"),
    ("remote_cli",),  # the CLI's run|watch|status|... against a running sidecar, on the client
    ("basics",),
    ("params",),
    ("settings",),
    ("upstream", "serving", "cache"),  # the two edges (out to Databricks, in from clients)
    ("jobs",),
    ("runs",),
    ("front_door",),
    ("scale_out",),
    ("runtime",),
    ("python_api", "web", "credential_check"),
    ("app",),
    ("cli", "mount"),  # the two entry points: the process, and the app inside another one
    ("__main__", ROOT),
]
# Starlette (the web framework) from this layer up; the emulator is an app of its own.
WEB_LAYER = "front_door"
FRAMEWORKS = ("starlette", "sse_starlette")
MAX_TOP_MODULES = 12


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package at `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(root: Path) -> dict[str, set[str]]:
    """Each module -> the modules of the same package it imports, by any import statement."""
    known = modules(root)
    package = root.name
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(node, name, path)
                targets |= {
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                    for alias in node.names
                }
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[name] = {
            _owner(target, known)
            for target in targets
            if target == package or target.startswith(f"{package}.")
        } - {name}
    return graph


def _absolute(node: ast.ImportFrom, name: str, path: Path) -> str:
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    here = parts if path.name == "__init__.py" else parts[:-1]
    base = here[: len(here) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _owner(target: str, known: dict[str, Path]) -> str:
    """The module `target` names (an attribute of a module names that module)."""
    while target not in known and "." in target:
        target = target.rpartition(".")[0]
    return target


def unit(module: str) -> str:
    """The package or top module a module belongs to: `service.jobs.triggers` -> `jobs`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def upward(graph: dict[str, set[str]], layers: list[tuple[str, ...]]) -> list[str]:
    """Every import of a module in a layer not below the importer's (its own package aside)."""
    level = {name: i for i, layer in enumerate(layers) for name in layer}
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if unit(target) != unit(module)
        and level.get(unit(target), len(layers)) >= level.get(unit(module), -1)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            if group:
                found.append(sorted([module, *group]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def frameworks_below(root: Path, layers: list[tuple[str, ...]]) -> list[str]:
    """Modules below the web layer (the emulator aside) that import the web framework."""
    below = {name for layer in layers[: _level(layers, WEB_LAYER)] for name in layer}
    below.discard("emulator")
    found = []
    for name, path in modules(root).items():
        if unit(name) not in below:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module]
            if any((n or "").split(".")[0] in FRAMEWORKS for n in names):
                found.append(name)
    return sorted(set(found))


def _level(layers: list[tuple[str, ...]], name: str) -> int:
    return next(i for i, layer in enumerate(layers) if name in layer)


# === the service ===============================================================================


def test_each_package_imports_only_the_layers_below_it() -> None:
    assert upward(imports(SERVICE), LAYERS) == []


def test_every_package_and_top_module_has_its_layer() -> None:
    placed = {name for layer in LAYERS for name in layer}
    assert sorted({unit(module) for module in modules(SERVICE)} - placed) == []


def test_no_import_cycle_remains() -> None:
    assert cycles(imports(SERVICE)) == []


def test_nothing_below_the_web_layer_imports_the_web_framework() -> None:
    assert frameworks_below(SERVICE, LAYERS) == []


def test_few_modules_sit_directly_in_service() -> None:
    top = sorted(path.name for path in SERVICE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


# === the checks themselves, on a tree of their own ================================================


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "service"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return root


SMALL = [("basics",), ("jobs",), ("web",)]


@pytest.mark.parametrize(
    "source",
    [
        "from service.web.routes import routes\n",
        "from service.web import routes\n",
        "import service.web.routes\n",
        "import typing\nif typing.TYPE_CHECKING:\n    from service.web.routes import R\n",
        "def later():\n    from service.web.routes import routes\n",
        "from ..web.routes import routes\n",
    ],
)
def test_an_import_from_a_layer_above_is_caught(tmp_path, source):
    root = tree(tmp_path, {"web/routes.py": "", "jobs/triggers.py": source})
    assert upward(imports(root), SMALL) == ["service.jobs.triggers -> service.web.routes"]


def test_packages_of_one_layer_may_not_import_each_other(tmp_path):
    root = tree(
        tmp_path, {"cache/store.py": "", "upstream/client.py": "import service.cache.store"}
    )
    siblings = [("basics",), ("upstream", "cache")]
    assert upward(imports(root), siblings) == ["service.upstream.client -> service.cache.store"]


def test_imports_downward_and_within_a_package_pass(tmp_path):
    root = tree(
        tmp_path,
        {
            "basics/errors.py": "",
            "web/replies.py": "",
            "web/routes.py": "from service.basics.errors import E\nfrom . import replies\n",
        },
    )
    assert upward(imports(root), SMALL) == []


def test_a_package_without_a_layer_is_caught(tmp_path):
    root = tree(
        tmp_path, {"basics/errors.py": "", "extras/thing.py": "from service.basics import errors"}
    )
    assert upward(imports(root), SMALL) == ["service.extras.thing -> service.basics.errors"]


def test_a_cycle_is_caught_even_through_a_type_only_import(tmp_path):
    root = tree(
        tmp_path,
        {
            "runs/watch.py": "from service.runs.subscription import Subscription\n",
            "runs/subscription.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from service.runs.watch import RunWatch\n"
            ),
        },
    )
    assert cycles(imports(root)) == [["service.runs.subscription", "service.runs.watch"]]


def test_the_web_framework_below_the_web_layer_is_caught(tmp_path):
    root = tree(tmp_path, {"basics/errors.py": "from starlette.responses import JSONResponse\n"})
    layers = [("basics",), (WEB_LAYER,)]
    assert frameworks_below(root, layers) == ["service.basics.errors"]
