"""The command line: check-config prints the effective configuration or one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from service.basics.logs import configure_logging
from service.cli import main, try_this
from service.serving.server import hypercorn_config


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "JOBS_CONFIG", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("ACCESS_MODE", "SIDECAR_API_KEYS", "DATABRICKS_APP_PORT", "EMULATOR_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOST", "127.0.0.1")  # loopback: open mode needs no more (access_mode)
    monkeypatch.setenv("DATABRICKS_HOST", "ws.example.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-very-secret")
    monkeypatch.setenv("DATABRICKS_JOB_ETL", "12")
    monkeypatch.chdir(tmp_path)  # no config/jobs.toml here
    yield monkeypatch
    configure_logging("info")  # main() caches loggers; later tests reconfigure them


def test_check_config_prints_the_effective_configuration_masked(env, capsys):
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["workspace"]["host"] == "https://ws.example.com"
    assert shown["jobs"]["etl"]["job_id"] == 12
    assert "dapi-very-secret" not in out


def test_broken_configuration_is_one_line_and_exit_2(env, capsys, tmp_path):
    (tmp_path / "bad.toml").write_text('[jobs.etl]\ntask_type = "spark"\n')
    assert main(["check-config", "--config", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"configuration error: {tmp_path / 'bad.toml'}: unknown task_type 'spark' (expected one "
        "of: dbt, job, notebook, python_script, python_wheel, spark_jar, sql) - at `$.jobs.etl`"
    ]


def test_serve_refuses_to_start_without_credentials(env, capsys):
    env.delenv("DATABRICKS_TOKEN")
    assert main(["serve"]) == 2
    assert "no credentials" in capsys.readouterr().err


def test_hypercorn_config_comes_from_settings():
    config = hypercorn_config("127.0.0.1", 8123, 7.0)
    assert config.bind == ["127.0.0.1:8123"]
    assert config.graceful_timeout == 7.0
    assert config.accesslog is None


ROOT = Path(__file__).resolve().parents[1]


def test_help_describes_the_commands_for_a_user_not_the_code(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "os.environ" not in out
    assert "Trigger, watch and cancel Databricks Jobs over HTTP" in out
    assert "DATABRICKS_HOST" in out


def test_check_config_without_a_workspace_describes_the_demo_set_up(env, capsys):
    env.delenv("DATABRICKS_HOST")
    env.delenv("DATABRICKS_TOKEN")
    env.chdir(ROOT)  # config/demo.toml, as `make run` finds it
    assert main(["check-config"]) == 0
    captured = capsys.readouterr()
    shown = json.loads(captured.out)
    assert shown["mode"] == "demo"
    assert shown["workspace"]["host"] == "http://127.0.0.1:8001"
    assert shown["jobs"]["etl"]["job_id"] == 1001
    assert "no DATABRICKS_HOST" in captured.err
    assert "make run" in captured.err


def test_check_config_without_a_workspace_shows_the_config_it_is_given(env, capsys, tmp_path):
    env.delenv("DATABRICKS_HOST")
    env.delenv("DATABRICKS_TOKEN")
    env.delenv("DATABRICKS_JOB_ETL")
    (tmp_path / "mine.toml").write_text("[jobs.mine]\njob_id = 1001\n")
    env.chdir(ROOT)
    assert main(["check-config", "--config", str(tmp_path / "mine.toml")]) == 0
    captured = capsys.readouterr()
    shown = json.loads(captured.out)
    assert (shown["mode"], list(shown["jobs"])) == ("demo", ["mine"])
    assert f"with the jobs of {tmp_path / 'mine.toml'}" in captured.err


def test_the_emulator_port_moves_with_emulator_port(env, capsys):
    env.delenv("DATABRICKS_HOST")
    env.delenv("DATABRICKS_TOKEN")
    env.setenv("EMULATOR_PORT", "18001")
    env.chdir(ROOT)
    assert main(["check-config"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["workspace"]["host"] == "http://127.0.0.1:18001"
    assert "emulator on 127.0.0.1:18001" in captured.err


def test_check_config_warns_when_no_job_is_configured(env, capsys):
    env.delenv("DATABRICKS_JOB_ETL")
    assert main(["check-config"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["mode"] == "workspace"
    assert "warning: no jobs are configured" in captured.err


def test_serve_without_a_workspace_points_at_the_demo(env, capsys):
    env.delenv("DATABRICKS_HOST")
    assert main(["serve"]) == 2
    assert "make run" in capsys.readouterr().err


def test_the_banner_quotes_every_url_with_a_query():
    urls = [word for word in try_this(8000).split() if "://" in word]
    assert any("?" in url for url in urls)
    for url in urls:
        if "?" in url:
            assert url.startswith("'"), url  # unquoted, zsh globs the ? and fails


def test_the_banner_names_the_dashboard_and_the_api_docs():
    banner = try_this(8000)
    assert "dashboard http://127.0.0.1:8000/ " in banner
    assert "API docs  http://127.0.0.1:8000/docs " in banner


def test_the_console_script_checks_the_config_from_a_clean_environment():
    script = Path(sys.executable).parent / "jobs-sidecar"
    done = subprocess.run(  # noqa: S603 - the console script this project installs
        [str(script), "check-config"],
        check=False,
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mode"] == "demo"


def test_version_prints_the_installed_packages_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"jobs-sidecar {version('jobs-sidecar')}\n"


def test_the_console_script_prints_the_version_of_pyproject():
    script = Path(sys.executable).parent / "jobs-sidecar"
    done = subprocess.run(  # noqa: S603 - the console script this project installs
        [str(script), "--version"],
        check=False,
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (done.returncode, done.stdout) == (0, f"jobs-sidecar {declared}\n")


def test_make_has_a_check_config_target_that_uses_the_console_script():
    done = subprocess.run(
        ["make", "-n", "check-config"],  # noqa: S607 - make from PATH, as a user runs it
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert ".venv/bin/jobs-sidecar check-config" in done.stdout
