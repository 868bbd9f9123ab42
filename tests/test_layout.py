"""The suite's layout: each unit test module is named for the service module it tests.

`tests/test_X.py` tests `service/X.py`, `tests/runs/test_X.py` tests `service/runs/X.py`,
`tests/upstream/test_X.py` tests `service/upstream/X.py` (see tests/README.md); end-to-end tests
live in tests/e2e/, the emulator's in tests/emulator/.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.conftest import BY_FOLDER, pytest_collection_modifyitems

TESTS = Path(__file__).parent
SERVICE = TESTS.parent / "service"
# Test modules of the project rather than of one service module.
PROJECT = {
    "test_containers.py",
    "test_docs.py",
    "test_exports.py",
    "test_scale_compose.py",
    "test_packaging.py",
    "test_lock.py",
    "test_deploy_files.py",
    "test_public_surface.py",
    "test_layout.py",
    "test_layering.py",
}
# Folders named for what their tests need or drive, not for a module.
BY_CONCEPT = {"e2e", "emulator", "scale", "browser", "container"}


def test_each_unit_test_module_is_named_for_a_service_module() -> None:
    unnamed = [
        str(path.relative_to(TESTS))
        for folder in ("", "runs", "upstream")
        for path in sorted((TESTS / folder).glob("test_*.py"))
        if not (SERVICE / folder / path.name.removeprefix("test_")).is_file()
        and path.name not in PROJECT
    ]
    assert unnamed == [], "name each for the module it tests, or move it to tests/e2e/"


def test_the_end_to_end_tests_opt_out_of_the_loop_clock() -> None:
    """Real sockets need real time: every e2e module says so once, for all its tests."""
    missing = [
        path.name
        for path in sorted((TESTS / "e2e").glob("test_*.py"))
        if "pytestmark = pytest.mark.looptime(False)" not in path.read_text()
    ]
    assert missing == []


class Collected:
    """A stand-in for a collected test: its file, and the markers the hook adds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.markers: list[str] = []

    def add_marker(self, marker: str) -> None:
        self.markers.append(marker)


def test_a_test_gets_the_marker_of_the_folder_it_is_in() -> None:
    items = [
        Collected(TESTS / "e2e" / "test_routes_e2e.py"),
        Collected(TESTS / "scale" / "test_redis_hub.py"),
        Collected(TESTS / "browser" / "test_dashboard.py"),
        Collected(TESTS / "container" / "test_image.py"),
        Collected(TESTS / "web" / "test_routes.py"),
        Collected(TESTS / "test_cli.py"),
    ]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.markers for item in items] == [
        ["e2e"],
        ["scale"],
        ["browser"],
        ["container"],
        [],
        [],
    ]


def test_the_folder_markers_are_registered_and_left_out_of_the_fast_loop() -> None:
    pyproject = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    registered = {
        line.partition(":")[0] for line in pyproject["tool"]["pytest"]["ini_options"]["markers"]
    }
    lines = (TESTS.parent / "Makefile").read_text().splitlines()
    fast = lines[lines.index("test-fast: $(ALL_STAMP)") + 1]
    assert set(BY_FOLDER) <= registered
    assert all(f"not {marker}" in fast for marker in BY_FOLDER)
