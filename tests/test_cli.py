"""The command line: check-config prints the effective configuration or one clear error."""

from __future__ import annotations

import json

import pytest

from service.cli import main
from service.logs import configure_logging
from service.serving import hypercorn_config


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "JOBS_CONFIG", "PORT"):
        monkeypatch.delenv(name, raising=False)
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
        "configuration error: job 'etl': unknown task_type 'spark' (expected one of: dbt, job, "
        "notebook, python_script, python_wheel, spark_jar, sql)"
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
