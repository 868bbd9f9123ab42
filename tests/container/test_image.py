"""The image, built and run for real: health, user, a streamed run, a graceful stop, its size.

The sidecar container talks to an emulator container over a user-defined network, as Compose
wires them; the host reaches both through ports published on 127.0.0.1 only. The emulator runs
the project's demo scenario 5x faster, with the dbt job made long enough to hold a stream open.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.emulator import load_scenario
from tests.compose_file import environment, service
from tests.container.conftest import SIZE_BUDGET_MB
from tests.container.engine import Session, completed, inspect, published, wait_healthy
from tests.dockerfile import ROOT, exec_form, final_stage
from tests.factories import sse_events

pytestmark = pytest.mark.container

APP_UID = 10001
EMULATOR_PORT = 8001
SPEED = 5.0  # the 14 s demo run takes about 3 s: long enough for the 2 s poll to see it move
LONG_RUN_MS = 3_600_000  # emulated: 12 minutes of real time at SPEED, longer than any test
STOP_BUDGET_S = 15.0
HEALTHY_WITHIN_S = 60.0


@dataclass(frozen=True)
class Stack:
    network: str
    emulator: str  # container ids
    sidecar: str
    emulator_url: str  # published on 127.0.0.1
    sidecar_url: str


def fast_scenario(directory: Path) -> Path:
    """config/emulator.toml at SPEED, with the dbt job (1006) running for LONG_RUN_MS."""
    text = (ROOT / "config" / "emulator.toml").read_text()
    text = re.sub(r"(?m)^speed = .*$", f"speed = {SPEED}", text)
    text = re.sub(r"(?m)^job_id = 1006$", f"job_id = 1006\nrunning_ms = {LONG_RUN_MS}", text)
    path = directory / "scenario.toml"
    path.write_text(text)
    path.chmod(0o644)  # read by the image's uid through the bind mount
    scenario = load_scenario(path)
    assert (scenario.speed, scenario.jobs["dbt"].running_ms) == (SPEED, LONG_RUN_MS)
    return path


def emulator_health_cmd() -> str:
    """The compose file's emulator health check, as `docker run --health-cmd` takes it."""
    test = service("emulator")["healthcheck"]["test"]
    assert test[0] == "CMD"
    return shlex.join(test[1:])


@contextmanager
def sidecar(session: Session, image: str, network: str, *args: str) -> Iterator[str]:
    """The image's own CMD with the compose file's sidecar environment, published on loopback.

    The HEALTHCHECK is the image's; only its interval is shortened (30 s in the image).
    """
    env = [f"--env={k}={v}" for k, v in environment(service("sidecar")).items()]
    since = time.time()
    with session.container(
        image, f"--network={network}", "--health-interval=1s", *env, *args
    ) as cid:
        wait_healthy(cid, since=since, within_s=HEALTHY_WITHIN_S)
        yield cid


@pytest.fixture(scope="module")
def stack(
    session: Session, image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    scenario = fast_scenario(tmp_path_factory.mktemp("scenario"))
    emulator_cmd = [
        "python", "-m", "service", "emulator", "--host", "0.0.0.0",
        "--port", str(EMULATOR_PORT), "--scenario", "/scenario/fast.toml",
    ]  # fmt: skip
    since = time.time()
    with (
        session.network(f"jobs-sidecar-test-{session.token}") as network,
        session.container(
            image,
            f"--network={network}",
            "--network-alias=emulator",
            f"--volume={scenario}:/scenario/fast.toml:ro",
            f"--publish=127.0.0.1::{EMULATOR_PORT}",
            f"--health-cmd={emulator_health_cmd()}",
            "--health-interval=1s",
            command=emulator_cmd,
        ) as emulator,
    ):
        wait_healthy(emulator, since=since, within_s=HEALTHY_WITHIN_S)
        with sidecar(session, image, network, "--publish=127.0.0.1::8000") as sc:
            yield Stack(
                network=network,
                emulator=emulator,
                sidecar=sc,
                emulator_url=published(emulator, EMULATOR_PORT),
                sidecar_url=published(sc, 8000),
            )


def in_container(container: str, code: str) -> subprocess.CompletedProcess[str]:
    return completed(["docker", "exec", container, "python", "-c", code], timeout=60)


def statuses(text: str) -> list[str]:
    return [
        json.loads(e["data"])["status"] for e in sse_events(text) if e.get("event") == "message"
    ]


# --- health and identity -----------------------------------------------------------------------


def test_healthcheck_of_the_image_becomes_healthy(stack: Stack, image: str) -> None:
    check = inspect(stack.sidecar)["Config"]["Healthcheck"]
    _options, _, cmd = final_stage().last("HEALTHCHECK").args.partition("CMD ")
    assert check["Test"] == ["CMD", *exec_form(cmd)], "the image's own probe"
    assert inspect(image)["Config"]["Healthcheck"]["Test"] == check["Test"]
    health = inspect(stack.sidecar)["State"]["Health"]
    assert health["Status"] == "healthy"
    assert health["Log"][-1]["ExitCode"] == 0
    assert httpx.get(f"{stack.sidecar_url}/livez").status_code == 200


def test_process_runs_as_uid_10001(stack: Stack) -> None:
    ids = in_container(stack.sidecar, "import os; print(os.getuid(), os.getgid())")
    assert ids.stdout.split() == [str(APP_UID), str(APP_UID)], ids.stderr
    # PID 1 is the service itself (exec form, no shell in between), running as that user.
    pid1 = in_container(
        stack.sidecar,
        "print(open('/proc/1/cmdline').read().split(chr(0))); print(open('/proc/1/status').read())",
    ).stdout
    assert pid1.splitlines()[0] == str(["python", "-m", "service", "serve", ""])
    assert re.search(rf"(?m)^Uid:\s+{APP_UID}\s+{APP_UID}\s", pid1)


@pytest.mark.parametrize("path", ["/app/config/jobs.toml", "/app/config/new.toml"])
def test_app_config_is_not_writable(stack: Stack, path: str) -> None:
    wrote = in_container(stack.sidecar, f"open({path!r}, 'a').write('x')")
    assert wrote.returncode != 0
    assert "PermissionError" in wrote.stderr


# --- a run, end to end through both containers -----------------------------------------------


def test_trigger_streamed_through_the_sidecar_reaches_terminated(stack: Stack) -> None:
    with httpx.Client(base_url=stack.sidecar_url, timeout=60) as client:
        response = client.post(
            "/api/jobs/etl/run?stream=true", json={"params": {"run_date": "2026-11-29"}}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    seen = statuses(response.text)
    assert seen[0] in {"QUEUED", "PENDING", "RUNNING"}, "streamed while it ran, not at the end"
    assert seen[-1] == "TERMINATED"
    final = json.loads(sse_events(response.text)[-1]["data"])["run"]
    assert final["state"]["result_state"] == "SUCCESS"
    # The emulator container received exactly that one run-now, with the mapped parameter.
    stats = httpx.get(f"{stack.emulator_url}/emulator/stats").json()
    bodies = [b for b in stats["run_now_bodies"] if b["job_id"] == 1001]
    assert len(bodies) == 1
    assert bodies[0]["job_parameters"]["run_date"] == "2026-11-29"


# --- a graceful stop -------------------------------------------------------------------------


def test_docker_stop_with_a_stream_open_ends_it_and_exits_0(
    session: Session, image: str, stack: Stack
) -> None:
    with sidecar(session, image, stack.network, "--publish=127.0.0.1::8000") as cid:
        url = published(cid, 8000)
        received: list[str] = []
        with (
            httpx.Client(base_url=url, timeout=60) as client,
            client.stream("POST", "/api/jobs/dbt/run?stream=true", json={}) as response,
        ):
            assert response.status_code == 200
            lines = response.iter_lines()
            for line in lines:  # up to the first state event: the run is being watched
                received.append(line)
                if line == "event: message":
                    break
            started = time.monotonic()
            stop = subprocess.Popen(  # noqa: S603 - docker from PATH
                ["docker", "stop", "--time", str(int(STOP_BUDGET_S)), cid],  # noqa: S607
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            received.extend(lines)  # to the end of the stream
            _out, err = stop.communicate(timeout=STOP_BUDGET_S + 30)
            took = time.monotonic() - started
        state = inspect(cid)["State"]
    assert stop.returncode == 0, err
    assert took < STOP_BUDGET_S, f"docker stop took {took:.1f}s"
    assert (state["Status"], state["ExitCode"], state["OOMKilled"]) == ("exited", 0, False)
    assert "event: shutdown" in received
    assert statuses("\n".join(received))[-1] not in {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


# --- the port Databricks Apps assigns ------------------------------------------------------------


def test_databricks_app_port_wins_over_the_images_port(
    session: Session, image: str, stack: Stack
) -> None:
    """Databricks Apps sets DATABRICKS_APP_PORT; the image's PORT=8000 must not win over it."""
    app_port = 8123
    assert final_stage().env()["PORT"] == "8000"
    with sidecar(
        session,
        image,
        stack.network,
        f"--env=DATABRICKS_APP_PORT={app_port}",
        f"--publish=127.0.0.1::{app_port}",
    ) as cid:
        # Healthy means the image's HEALTHCHECK found the service on the app port.
        assert httpx.get(f"{published(cid, app_port)}/api/jobs").status_code == 200
        nothing_on_8000 = in_container(
            cid, "import socket; socket.create_connection(('127.0.0.1', 8000), timeout=2)"
        )
        assert "ConnectionRefusedError" in nothing_on_8000.stderr


# --- the access mode --------------------------------------------------------------------------


def test_the_image_with_no_access_mode_refuses_to_start_saying_why(image: str) -> None:
    """On all interfaces, outside Databricks Apps, the image asks for a mode: exit 2, one line."""
    done = completed(
        [
            "docker", "run", "--rm", "--env=DATABRICKS_HOST=http://127.0.0.1:9",
            "--env=DATABRICKS_TOKEN=dapi-local-dev", image,
        ],
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "configuration error: no access mode for a service listening on 0.0.0.0: set "
        'ACCESS_MODE (or [access] mode) to "token" (API keys), "apps" (behind the Databricks '
        'Apps proxy) or "open" (no authentication)'
    ]


# --- size ------------------------------------------------------------------------------------


def test_image_fits_the_size_budget(image: str) -> None:
    size_mb = int(inspect(image)["Size"]) / 1e6
    assert size_mb <= SIZE_BUDGET_MB, f"{size_mb:.0f} MB"  # the summary prints it, pass or fail
