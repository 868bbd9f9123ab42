"""uv.lock is the one source of installed versions: it matches pyproject.toml, the exported
requirements the image and the Databricks App install, and what this venv holds.

A dependency added to pyproject.toml without `make lock` fails here, offline: the lock keeps the
requirements it was resolved from (`[package.metadata]`), and those must be pyproject's own.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
EXPORTED = ROOT / "deploy" / "databricks-app" / "requirements.txt"


def _project_entry() -> dict:
    name = PYPROJECT["project"]["name"]
    (entry,) = [p for p in LOCK["package"] if p["name"] == name]
    return entry


def _normal(requirement: str) -> tuple[str, frozenset[str], str, str]:
    req = Requirement(requirement)
    marker = str(req.marker) if req.marker else ""
    return canonicalize_name(req.name), frozenset(req.extras), str(req.specifier), marker


def _locked(entries: list[dict]) -> set[tuple[str, frozenset[str], str, str]]:
    return {
        (
            canonicalize_name(e["name"]),
            frozenset(e.get("extras", ())),
            str(Requirement(f"x{e.get('specifier', '')}").specifier),
            e.get("marker", ""),
        )
        for e in entries
    }


def _versions() -> dict[str, str]:
    return {canonicalize_name(p["name"]): p["version"] for p in LOCK["package"] if "version" in p}


def test_the_lock_was_resolved_from_these_runtime_requirements() -> None:
    metadata = _project_entry()["metadata"]
    declared = {_normal(r) for r in PYPROJECT["project"]["dependencies"]}
    assert _locked(metadata["requires-dist"]) == declared, "pyproject changed: run `make lock`"


def test_the_lock_was_resolved_from_these_groups() -> None:
    locked = _project_entry()["metadata"].get("requires-dev", {})
    groups = PYPROJECT.get("dependency-groups", {})
    assert set(locked) == set(groups), "groups changed: run `make lock`"
    for group, requirements in groups.items():
        declared = {_normal(r) for r in requirements}
        assert _locked(locked[group]) == declared, f"group {group} changed: run `make lock`"


def test_the_exported_requirements_are_the_locked_runtime_versions() -> None:
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", EXPORTED.read_text(), re.M))
    versions = _versions()
    assert pins, "no pins in the exported requirements"
    for name, version in pins.items():
        assert versions[canonicalize_name(name)] == version, f"{name}: run `make lock`"
    runtime = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    assert runtime <= {canonicalize_name(n) for n in pins}
    assert "--hash=sha256:" in EXPORTED.read_text(), "the image installs with --require-hashes"


def test_the_exported_requirements_carry_no_test_or_lint_tool() -> None:
    text = EXPORTED.read_text()
    for tool in ("pytest", "playwright", "ruff", "mypy", "schemathesis"):
        assert not re.search(rf"^{tool}==", text, re.M), tool


@pytest.mark.parametrize("name", ["redis", "starlette", "hypercorn", "httpx", "msgspec", "pytest"])
def test_this_environment_holds_the_locked_versions(name: str) -> None:
    assert importlib.metadata.version(name) == _versions()[name]
