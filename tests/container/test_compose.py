"""The project's docker-compose.yml, brought up for real: one image, served on loopback.

A project name of its own, so nothing of a developer's `docker compose up` is touched; torn
down (containers, network, volumes) whatever happens. The port moves with SIDECAR_PORT, as the
compose file documents, to a free one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.compose_file import COMPOSE
from tests.container.engine import Session, compose_command, docker, inspect, run
from tests.dockerfile import ROOT
from tests.e2e.servers import free_port
from tests.factories import DEMO_JOB_IDS

pytestmark = pytest.mark.container

UP_WITHIN_S = 120.0


@dataclass(frozen=True)
class Project:
    argv: list[str]  # compose -p NAME -f FILE
    env: dict[str, str]
    url: str

    def __call__(self, *args: str, timeout: float = 600) -> str:
        return run([*self.argv, *args], env=self.env, cwd=str(ROOT), timeout=timeout)

    def container(self, name: str) -> str:
        ids = self("ps", "-q", name).split()
        assert len(ids) == 1, f"{name}: {ids}"
        return ids[0]


@pytest.fixture(scope="module")
def project(session: Session, image: str) -> Iterator[Project]:
    """`up --build -d` of the compose file under a unique project name; `down` afterwards.

    The image is built first (the `image` fixture), so compose's build of the same Dockerfile
    comes from the cache. It is tagged for this session alone (SIDECAR_IMAGE) and untagged after.
    """
    del image
    compose = compose_command()
    if compose is None:
        pytest.fail("neither `docker compose` nor `docker-compose` is installed", pytrace=False)
    port = free_port()
    tag = f"jobs-sidecar:compose-{session.token}"
    project = Project(
        argv=[
            *compose,
            "--project-name",
            f"jobs-sidecar-test-{session.token}",
            "--file",
            str(COMPOSE),
        ],
        env={"SIDECAR_PORT": str(port), "SIDECAR_IMAGE": tag},
        url=f"http://127.0.0.1:{port}",
    )
    try:
        project("up", "--build", "--detach")
        yield project
    finally:
        project("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=120)
        docker("rmi", tag, check=False)


def wait_serving(url: str) -> httpx.Response:
    """GET until the sidecar answers, about a second after `up` returns.

    Nothing else signals that its port is open: its first health check comes 10 s after it starts.
    """
    deadline = time.monotonic() + UP_WITHIN_S
    with httpx.Client(timeout=5) as client:
        while True:
            try:
                response = client.get(url)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            return response


def test_compose_up_serves_the_jobs_on_loopback(project: Project) -> None:
    response = wait_serving(f"{project.url}/api/jobs")
    assert response.status_code == 200
    jobs = {job["key"]: job for job in response.json()["jobs"]}
    assert set(jobs) == set(DEMO_JOB_IDS)
    sidecar = inspect(project.container("sidecar"))
    bindings = sidecar["HostConfig"]["PortBindings"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]


def test_compose_runs_one_image_for_both_services(project: Project) -> None:
    emulator = inspect(project.container("emulator"))
    sidecar = inspect(project.container("sidecar"))
    assert emulator["Config"]["Image"] == sidecar["Config"]["Image"], "one image name"
    assert emulator["Image"] == sidecar["Image"]
    # The sidecar's health check is the image's own HEALTHCHECK (compose sets only its interval).
    assert (
        sidecar["Config"]["Healthcheck"]["Test"]
        == inspect(sidecar["Image"])["Config"]["Healthcheck"]["Test"]
    )
