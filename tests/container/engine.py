"""The Docker engine through its command line: run, inspect, wait for events, clean up by label.

Everything a container test starts carries the session's label, so whatever a failed test left
behind is removed at the end of the session (`remove_labelled`), on top of each test's own
cleanup. Published ports are on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# The classic builder: Debian's engine has no BuildKit front end for the CLI to reach, and the
# stand-in base image exists only locally, so nothing may try to pull it (no --pull anywhere).
BUILD_ENV = {"DOCKER_BUILDKIT": "0"}


class DockerFailed(AssertionError):
    """A docker command exited non-zero; the message holds its command line and stderr."""


def docker(
    *args: str, timeout: float = 120, check: bool = True, env: Mapping[str, str] | None = None
) -> str:
    """Run `docker ARGS` and return its stdout; raise DockerFailed when it fails and `check`."""
    return run(["docker", *args], timeout=timeout, check=check, env=env)


def run(
    argv: Sequence[str],
    *,
    timeout: float = 120,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> str:
    """Run a command (docker, compose) and return its stdout; DockerFailed when it fails."""
    result = completed(argv, timeout=timeout, env=env, cwd=cwd)
    if check and result.returncode != 0:
        raise DockerFailed(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def completed(
    argv: Sequence[str],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, whatever its exit status, with the builder settings above."""
    return subprocess.run(  # noqa: S603 - docker and compose, with arguments we build
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **BUILD_ENV, **(env or {})},
        cwd=cwd,
    )


def engine_answers() -> str | None:
    """None when a Docker engine answers; otherwise why not, in a sentence."""
    if shutil.which("docker") is None:
        return "no docker command (apt-get install docker.io docker-compose debootstrap)"
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except (DockerFailed, subprocess.TimeoutExpired) as exc:
        return f"no Docker engine answers `docker info` ({str(exc).strip().splitlines()[-1]})"
    return None


def compose_command() -> list[str] | None:
    """`docker compose` (v2) when the plugin is there, else `docker-compose` (v1), else None."""
    if completed(["docker", "compose", "version"], timeout=20).returncode == 0:
        return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def inspect(thing: str) -> dict[str, Any]:
    found = json.loads(docker("inspect", thing))
    assert len(found) == 1, f"{thing}: {len(found)} objects"
    return found[0]  # type: ignore[no-any-return]


def published(container: str, port: int) -> str:
    """The host address of a port published with `-p 127.0.0.1::PORT`, as an http:// URL."""
    first = docker("port", container, f"{port}/tcp").split()[0]
    host, _, host_port = first.rpartition(":")
    assert host == "127.0.0.1", f"{container}:{port} is published on {host}, not loopback"
    return f"http://127.0.0.1:{host_port}"


def wait_healthy(container: str, *, since: float, within_s: float) -> float:
    """Block on the engine's events until `container` reports healthy; the seconds it took.

    `since` (a wall-clock timestamp taken before the container started) replays events that
    came before this call, so a container that is already healthy is not missed. Fails at
    once when the container dies, and after `within_s` when it never becomes healthy.
    """
    until = time.time() + within_s
    argv = [
        "docker", "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
        "--filter", f"container={container}", "--filter", "event=health_status",
        "--filter", "event=die", "--format", "{{.Status}}",
    ]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as events:  # noqa: S603
        assert events.stdout is not None
        try:
            for line in events.stdout:
                status = line.strip()
                if status == "health_status: healthy":
                    return time.time() - since
                if status == "die":
                    raise AssertionError(f"{container} died:\n{logs(container)}")
        finally:
            events.kill()
    raise AssertionError(f"{container} not healthy within {within_s}s:\n{logs(container)}")


def logs(container: str) -> str:
    result = completed(["docker", "logs", "--tail", "40", container], timeout=30)
    return result.stdout + result.stderr


@dataclass(frozen=True)
class Session:
    """One test session: the label every container and network it starts carries."""

    token: str  # unique to the session: in its label, image tag and compose project name

    @property
    def label(self) -> str:
        return f"jobs-sidecar.test={self.token}"

    @contextmanager
    def container(self, image: str, *args: str, command: Sequence[str] = ()) -> Iterator[str]:
        """`docker run -d` with our label; removed (with its volumes) when the block ends."""
        cid = docker("run", "-d", "--label", self.label, *args, image, *command).strip()
        try:
            yield cid
        finally:
            docker("rm", "-f", "-v", cid, check=False, timeout=60)

    @contextmanager
    def network(self, name: str) -> Iterator[str]:
        docker("network", "create", "--label", self.label, name)
        try:
            yield name
        finally:
            docker("network", "rm", name, check=False, timeout=60)

    def remove_labelled(self) -> list[str]:
        """Remove what still carries the label; the ids removed (none when tests cleaned up)."""
        flt = f"label={self.label}"
        containers = docker("ps", "-aq", "--filter", flt, check=False).split()
        if containers:
            docker("rm", "-f", "-v", *containers, check=False, timeout=60)
        networks = docker("network", "ls", "-q", "--filter", flt, check=False).split()
        if networks:
            docker("network", "rm", *networks, check=False, timeout=60)
        return containers + networks
