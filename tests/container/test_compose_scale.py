"""docker-compose.yml's `scale` profile brought up for real: Redis and two replicas sharing it.

Where Docker Hub cannot be reached, the official Redis image the profile names is built first
from docker/redis (Debian's redis-server on the project's base), as the compose file says.
Not run by the session that wrote it (no engine there): the lead's container run is its first.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.compose_file import COMPOSE
from tests.container.engine import DockerFailed, Session, compose_command, docker, inspect
from tests.container.test_compose import Project, wait_serving
from tests.dockerfile import ROOT
from tests.e2e.servers import free_port

pytestmark = pytest.mark.container
REDIS_IMAGE = "redis:7-bookworm"
PARAMS = {"params": {"run_date": "2026-01-01"}}


@pytest.fixture(scope="module")
def scaled(session: Session, image: str) -> Iterator[tuple[Project, str, str]]:
    del image
    compose = compose_command()
    if compose is None:
        pytest.fail("neither `docker compose` nor `docker-compose` is installed", pytrace=False)
    try:
        inspect(REDIS_IMAGE)
    except DockerFailed:
        docker("build", "--tag", REDIS_IMAGE, str(ROOT / "docker" / "redis"), timeout=600)
    ports = [free_port() for _ in range(3)]
    tag = f"jobs-sidecar:compose-scale-{session.token}"
    project = Project(
        argv=[
            *compose,
            *("--project-name", f"jobs-sidecar-scale-{session.token}"),
            *("--file", str(COMPOSE), "--profile", "scale"),
        ],
        env={
            "SIDECAR_PORT": str(ports[0]),
            "REPLICA_1_PORT": str(ports[1]),
            "REPLICA_2_PORT": str(ports[2]),
            "SIDECAR_IMAGE": tag,
        },
        url=f"http://127.0.0.1:{ports[0]}",
    )
    try:
        project("up", "--build", "--detach")
        yield project, f"http://127.0.0.1:{ports[1]}", f"http://127.0.0.1:{ports[2]}"
    finally:
        project("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=120)
        docker("rmi", tag, check=False)


def test_the_replicas_share_redis_and_one_key_gives_one_run(
    scaled: tuple[Project, str, str],
) -> None:
    _project, one, two = scaled
    ready = [wait_serving(f"{url}/readyz").json() for url in (one, two)]
    headers = {"Idempotency-Key": "compose-scale-1"}
    with httpx.Client(timeout=10) as client:
        first = client.post(f"{one}/api/jobs/etl/run", json=PARAMS, headers=headers)
        again = client.post(f"{two}/api/jobs/etl/run", json=PARAMS, headers=headers)
    assert ready == [{"status": "ready", "redis": "up"}] * 2
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
