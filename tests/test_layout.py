"""The suite's layout: each unit test module is named for the service module it tests.

`tests/test_X.py` tests `service/X.py`, `tests/runs/test_X.py` tests `service/runs/X.py`,
`tests/upstream/test_X.py` tests `service/upstream/X.py` (see tests/README.md); end-to-end tests
live in tests/e2e/, the emulator's in tests/emulator/.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parent
SERVICE = TESTS.parent / "service"
# Test modules of the project rather than of one service module.
PROJECT = {
    "test_containers.py",
    "test_scale_compose.py",
    "test_packaging.py",
    "test_lock.py",
    "test_deploy_files.py",
    "test_docs.py",
    "test_public_surface.py",
    "test_layout.py",
}
# Tests of a package as a whole.
PACKAGE = {"upstream/test_layering.py"}


def test_each_unit_test_module_is_named_for_a_service_module() -> None:
    unnamed = [
        str(path.relative_to(TESTS))
        for folder in ("", "runs", "upstream")
        for path in sorted((TESTS / folder).glob("test_*.py"))
        if not (SERVICE / folder / path.name.removeprefix("test_")).is_file()
        and path.name not in PROJECT
        and str(path.relative_to(TESTS)) not in PACKAGE
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
