"""Fixtures of the container tests: an engine that answers, the session's label, the image.

Without a Docker engine these tests skip with the reason, except in CI (CI=true), where they
fail: CI must run them. `.ci/docker-up` starts an engine and builds the stand-in base image;
`make test` calls it when it can, `make test-container` always.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.container.engine import DockerFailed, Session, docker, engine_answers, inspect
from tests.dockerfile import ROOT, dockerfile

# The build's stable tag keeps its layers (the build cache) between runs; each session runs its
# own tag of it, so two worktrees testing at once on one engine never run each other's build.
CACHE_TAG = "jobs-sidecar:test"
SIZE_BUDGET_MB = 200
_IMAGE_SIZE = pytest.StashKey[str]()


def unavailable(reason: str) -> None:
    """Skip a developer's run, fail CI's: the container tests are part of what CI proves."""
    how = "start one with `bash .ci/docker-up` (root), or run `make test-container`"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI must run the container tests, but {reason}; {how}", pytrace=False)
    pytest.skip(f"{reason}; {how}")


@pytest.fixture(scope="session")
def engine() -> None:
    reason = engine_answers()
    if reason is not None:
        unavailable(reason)


@pytest.fixture(scope="session")
def session(engine: None) -> Iterator[Session]:
    label = Session(token=uuid.uuid4().hex[:12])
    yield label
    leftovers = label.remove_labelled()
    assert not leftovers, f"tests left these behind (now removed): {leftovers}"


@pytest.fixture(scope="session")
def image(session: Session, request: pytest.FixtureRequest) -> Iterator[str]:
    """The project's image, built as CI and users build it: classic builder, no --pull."""
    base = dockerfile()[0].base
    try:
        inspect(base)
    except DockerFailed:
        unavailable(f"the base image {base} is missing (.ci/docker-up builds a local stand-in)")
    tag = f"{CACHE_TAG}-{session.token}"
    docker("build", "--tag", CACHE_TAG, "--tag", tag, str(ROOT), timeout=900)
    size_mb = int(inspect(tag)["Size"]) / 1e6
    request.config.stash[_IMAGE_SIZE] = (
        f"image {CACHE_TAG}: {size_mb:.0f} MB (budget {SIZE_BUDGET_MB} MB), from {base}"
    )
    try:
        yield tag
    finally:
        docker("rmi", tag, check=False)  # the tag only: CACHE_TAG keeps the layers


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    line = terminalreporter.config.stash.get(_IMAGE_SIZE, None)
    if line is not None:
        terminalreporter.write_sep("-", "container image")
        terminalreporter.write_line(line)
