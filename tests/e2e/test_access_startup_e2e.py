"""Start-up refusals of the access mode, as an operator meets them: the CLI run as a process,
its exit code and its one line; `check-config` shows the mode it resolved and key names only."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import start, stop

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-of-the-ci-bot-key"
LOOPBACK = ["localhost", "127.0.0.0/8", "::1"]  # the Host names always answered
WORKSPACE = {"DATABRICKS_HOST": "http://127.0.0.1:9", "DATABRICKS_TOKEN": "dapi-test"}


def cli(command: str, tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """`python -m service <command>` with only these variables (and PATH), in an empty config."""
    config = tmp_path / "jobs.toml"
    config.write_text("[jobs.etl]\njob_id = 101\n")
    env = {"PATH": os.environ.get("PATH", ""), "JOBS_CONFIG": str(config), **environ}
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "service", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        (
            {},
            "configuration error: no access mode for a service listening on 0.0.0.0: set "
            'ACCESS_MODE (or [access] mode) to "token" (API keys), "apps" (behind the Databricks '
            'Apps proxy) or "open" (no authentication)',
        ),
        (
            {"ACCESS_MODE": "open", "HOST": "10.1.2.3"},
            "configuration error: open mode would let anyone who reaches 10.1.2.3 trigger and "
            "cancel runs: listen on 127.0.0.1 (HOST), choose token or apps mode, or set [access] "
            "allow_open = true on purpose",
        ),
        (
            {"ACCESS_MODE": "token"},
            "configuration error: token mode has no API keys: set SIDECAR_API_KEYS=name:secret"
            '[,name:secret...] or [access] api_keys_file = "<file of name:secret lines>"',
        ),
    ],
    ids=["no-mode-off-loopback", "open-off-loopback", "token-without-keys"],
)
@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_serving_that_would_be_exposed_or_locked_stops_with_one_line(
    tmp_path, command, environ, line
):
    done = cli(command, tmp_path, **WORKSPACE, **environ)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [line]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        ({"HOST": "127.0.0.1"}, "open"),
        ({"HOST": "::1"}, "open"),
        ({"HOST": "localhost"}, "open"),
        ({"DATABRICKS_APP_PORT": "8080"}, "apps"),
        ({"DATABRICKS_APP_PORT": "8080", "HOST": "127.0.0.1", "ACCESS_MODE": "token"}, "token"),
        ({"ACCESS_MODE": "apps", "HOST": "127.0.0.1"}, "apps"),
    ],
)
def test_check_config_shows_the_mode_it_resolved(tmp_path, environ, mode):
    keys = {"SIDECAR_API_KEYS": f"ci-bot:{SECRET}"} if mode == "token" else {}
    done = cli("check-config", tmp_path, **WORKSPACE, **environ, **keys)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["access"]["mode"] == mode


def test_check_config_names_the_keys_and_never_shows_a_secret(tmp_path):
    done = cli(
        "check-config", tmp_path, **WORKSPACE, ACCESS_MODE="token", SIDECAR_API_KEYS=f"ci:{SECRET}"
    )
    shown = json.loads(done.stdout)
    assert (shown["access"]["mode"], shown["api_keys"]) == ("token", ["ci"])
    assert SECRET not in done.stdout + done.stderr


def test_open_off_loopback_serves_check_config_when_allowed_on_purpose(tmp_path):
    config = tmp_path / "open.toml"
    config.write_text("[access]\nallow_open = true\n[jobs.etl]\njob_id = 101\n")
    done = cli("check-config", tmp_path, **WORKSPACE, ACCESS_MODE="open", JOBS_CONFIG=str(config))
    assert done.returncode == 0, done.stderr
    access = json.loads(done.stdout)["access"]
    assert (access["mode"], access["allow_open"]) == ("open", True)


def test_make_run_s_demo_listens_on_loopback_in_open_mode(tmp_path):
    done = cli("check-config", tmp_path)  # no DATABRICKS_HOST: the demo set-up of `make run`
    shown = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert shown["listen"].startswith("127.0.0.1:")
    assert shown["access"]["mode"] == "open"


@pytest.mark.parametrize(
    ("access", "in_force"),
    [
        (
            '[access]\nmode = "apps"\ntrusted_proxies = ["10.0.0.0/8"]\n'
            'allowed_hosts = ["jobs.example.com"]\n',
            {
                "mode": "apps",
                "trusted_proxies": ["10.0.0.0/8"],
                "allowed_hosts": [*LOOPBACK, "127.0.0.1", "jobs.example.com"],
            },
        ),
        (
            "",  # open on loopback: no one's forwarded headers are believed
            {
                "mode": "open",
                "trusted_proxies": [],
                "allowed_hosts": [*LOOPBACK, "127.0.0.1"],
            },
        ),
    ],
    ids=["apps", "open"],
)
async def test_serve_says_at_start_what_it_trusts_in_one_line(tmp_path, access, in_force):
    config = tmp_path / "jobs.toml"
    config.write_text(f"{access}[jobs.etl]\njob_id = 101\n")
    process, _ = await start("http://127.0.0.1:9", config)
    lines = []
    try:
        assert process.stderr is not None
        while not any(line.get("event") == "access.in_force" for line in lines):
            raw = await asyncio.wait_for(process.stderr.readline(), 20)
            assert raw, b"".join(json.dumps(line).encode() for line in lines)
            lines.append(json.loads(raw))
    finally:
        await stop(process)
    (line,) = [line for line in lines if line["event"] == "access.in_force"]
    assert {name: line[name] for name in in_force} == in_force
