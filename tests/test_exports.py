"""What a program imports: `service`'s `__all__`, whole, light to import, and all the examples use.

The examples and the documents' Python import only from `service` itself; a private module
(`service.python_api`, `service.settings.config`, ...) may move with the next relayout.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import service
import service.client
from service.basics import errors

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# An import line in a document's code block.
IMPORT_LINE = re.compile(
    r"^\s*(from\s+service[\w.]*\s+import\s+.+|import\s+service[\w.]*.*)$", re.M
)


# The two public surfaces: the service's (`service`) and its HTTP client's (`service.client`,
# which a program uses without the server's dependencies).
PUBLIC = {"service": set(service.__all__), "service.client": set(service.client.__all__)}


def private_imports(source: str) -> list[str]:
    """Imports of `service` that are not `from service import <public names>` (or the
    client's)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "service":
            names = [a.name for a in node.names]
            if not set(names) <= PUBLIC.get(node.module or "", set()):
                found.append(f"from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "service"]
    return found


def test_every_public_name_comes_from_its_module() -> None:
    for name in service.__all__:
        value = getattr(service, name)
        assert getattr(inspect.getmodule(value), name) is value


def test_the_whole_error_tree_is_public() -> None:
    tree = {
        name
        for name, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, errors.SidecarError)
    }
    assert tree - set(service.__all__) == set()


def test_the_python_api_and_settings_are_public() -> None:
    needed = {"Jobs", "ExecutionResult", "load_settings", "config_path", "create_app"}
    assert needed <= set(service.__all__)


def test_a_name_that_is_not_public_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'JobOperations'"):
        service.JobOperations  # noqa: B018 - the lookup is the test


def test_importing_service_loads_nothing_else() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, service; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    names = ast.literal_eval(loaded)
    assert [n for n in names if n.startswith("service.")] == []
    assert {"httpx", "starlette", "msgspec"}.isdisjoint(names)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_an_example_imports_only_the_public_surface(example: Path) -> None:
    assert private_imports(example.read_text()) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_a_document_s_python_imports_only_the_public_surface(document: Path) -> None:
    lines = "\n".join(m.group(1) for m in IMPORT_LINE.finditer(document.read_text()))
    assert private_imports(lines) == []


@pytest.mark.parametrize(
    "source",
    [
        "from service.python_api import Jobs",
        "from service.settings.config import load_settings",
        "import service.python_api",
        "from service import JobOperations",
        "from service import python_api",
    ],
)
def test_a_private_import_is_caught(source: str) -> None:
    assert private_imports(source)
