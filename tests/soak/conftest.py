"""The two-minute soak runs beside the rest of the suite: started once collection has found a
soak test, waited for by the first test that reads its report.

Why in the background: most of the suite waits on sockets, timers and child processes (it
takes about a third of one core), and the soak is 2.5 minutes of wall time of its own; run
after the rest, it took `make test` past CI's 10 minutes (594 s)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--minutes", "2", "--watchers", "100"]
SOAK = pytest.StashKey[tuple[subprocess.Popen[bytes], Path]]()


def start() -> tuple[subprocess.Popen[bytes], Path]:
    """The soak, started: its process, and where its results will be."""
    out = Path(tempfile.mkdtemp(prefix="soak-")) / "results.json"
    popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.soak", *SMALL, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return popen, out


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = any(item.get_closest_marker("soak") for item in session.items)
    if (
        wanted
        and shutil.which("redis-server") is not None
        and not session.config.option.collectonly
    ):
        session.config.stash[SOAK] = start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A soak still running when the session ends (stopped early: -x, Ctrl-C) goes with it."""
    started = session.config.stash.get(SOAK, None)
    if started is None:
        return
    popen, out = started
    if popen.poll() is None:
        popen.terminate()
        popen.wait(timeout=60)
    shutil.rmtree(out.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def soak_results(request: pytest.FixtureRequest) -> Path:
    """The soak's results file, once it has ended (started here if collection did not)."""
    started = request.config.stash.get(SOAK, None)
    if started is None:
        started = request.config.stash[SOAK] = start()
    popen, out = started
    popen.wait(timeout=420)
    return out
