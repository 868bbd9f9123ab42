"""Start-up says what it trusts that a stranger could use, as an operator meets it: the CLI run
as a process, `check-config`'s warnings and `serve`'s `config.warning` log lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import free_port

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = {"DATABRICKS_HOST": "http://127.0.0.1:9", "DATABRICKS_TOKEN": "dapi-test"}
WORLD_WIDE = (
    "warning: [access] trusted_proxies 0.0.0.0/0 holds every address: any peer that reaches the "
    "port can name itself any user (X-Forwarded-Email) and forward any token; narrow it to the "
    "proxy's range"
)
OPEN_EVERYWHERE = (
    "warning: open mode on 0.0.0.0 (allow_open = true): anyone who reaches the port may trigger "
    "and cancel runs, as `anonymous`"
)


def config(tmp_path: Path, access: str) -> Path:
    path = tmp_path / "jobs.toml"
    path.write_text(f"[access]\n{access}\n[jobs.etl]\njob_id = 101\n")
    return path


def check_config(path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "JOBS_CONFIG": str(path), **WORKSPACE, **environ}
    return subprocess.run(
        [sys.executable, "-m", "service", "check-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def warnings(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("warning: ")]


def test_a_world_wide_proxy_range_is_a_warning(tmp_path):
    path = config(tmp_path, 'trusted_proxies = ["0.0.0.0/0"]')
    assert warnings(check_config(path, ACCESS_MODE="apps", HOST="127.0.0.1")) == [WORLD_WIDE]


def test_open_mode_on_every_address_is_a_warning(tmp_path):
    path = config(tmp_path, "allow_open = true")
    assert warnings(check_config(path, ACCESS_MODE="open", HOST="0.0.0.0")) == [OPEN_EVERYWHERE]


@pytest.mark.parametrize(("mode", "warned"), [(0o640, True), (0o604, True), (0o600, False)])
def test_a_key_file_others_may_read_is_a_warning(tmp_path, mode, warned):
    keys = tmp_path / "keys"
    keys.write_text("ci-bot:" + "s" * 24 + "\n")
    keys.chmod(mode)
    path = config(tmp_path, f'api_keys_file = "{keys}"')
    said = warnings(check_config(path, ACCESS_MODE="token", HOST="127.0.0.1"))
    expected = (
        f"warning: api_keys_file {keys} is open to other users (mode {mode:o}): anyone who can "
        "read it can call as any of its keys; chmod 600 it"
    )
    assert said == ([expected] if warned else [])


def test_loopback_and_the_default_proxy_ranges_say_nothing(tmp_path):
    path = config(tmp_path, "")
    assert warnings(check_config(path, ACCESS_MODE="apps", HOST="127.0.0.1")) == []
    assert warnings(check_config(path, HOST="127.0.0.1")) == []  # open, on loopback


def test_serve_logs_the_warning_as_it_starts(tmp_path):
    path = config(tmp_path, 'trusted_proxies = ["10.0.0.0/8", "::/0"]')
    env = {
        "PATH": os.environ.get("PATH", ""),
        "JOBS_CONFIG": str(path),
        "ACCESS_MODE": "apps",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        **WORKSPACE,
    }
    with subprocess.Popen(
        [sys.executable, "-m", "service", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        lines = []
        for raw in process.stderr:
            lines.append(json.loads(raw))
            if lines[-1]["event"] == "app.started":  # the lifespan logged its warnings
                break
        process.terminate()
        process.wait(timeout=20)
    said = [line["message"] for line in lines if line["event"] == "config.warning"]
    assert said == [WORLD_WIDE.removeprefix("warning: ").replace("0.0.0.0/0", "::/0")]
    assert [line["level"] for line in lines if line["event"] == "config.warning"] == ["warning"]
