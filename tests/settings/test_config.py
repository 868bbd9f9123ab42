"""Configuration: the TOML file, environment discovery and merge rules, and clear errors."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from service.basics.errors import ConfigError
from service.settings.config import (
    ENVIRONMENT,
    config_path,
    describe,
    load_settings,
    normalize_host,
    reads_variable,
)
from tests.factories import load_toml


def test_defaults(tmp_path):
    settings = load_toml(tmp_path)
    assert (settings.timeout_ms, settings.poll_interval_ms) == (10_000, 5_000)
    assert settings.port == 8000
    assert settings.listen_host == "0.0.0.0"


def test_discovers_named_jobs_lowercased(tmp_path):
    settings = load_toml(tmp_path, DATABRICKS_JOB_NIGHTLY_ETL="42", DATABRICKS_JOB_REPORT="43")
    assert {k: j.job_id for k, j in settings.jobs.items()} == {"nightly_etl": 42, "report": 43}


def test_job_id_registers_default_only_when_nothing_else(tmp_path):
    assert list(load_toml(tmp_path, DATABRICKS_JOB_ID="7").jobs) == ["default"]
    assert list(load_toml(tmp_path, DATABRICKS_JOB_ID="7", DATABRICKS_JOB_ETL="8").jobs) == ["etl"]
    assert list(load_toml(tmp_path, "[jobs.etl]\njob_id = 1\n", DATABRICKS_JOB_ID="7").jobs) == [
        "etl"
    ]


def test_empty_env_values_are_ignored(tmp_path):
    assert load_toml(tmp_path, DATABRICKS_JOB_ETL="  ").jobs == {}


def test_file_settings_win_and_env_supplies_missing_id(tmp_path):
    settings = load_toml(
        tmp_path,
        '[jobs.etl]\ntask_type = "notebook"\nwait_timeout_ms = 5000\n',
        DATABRICKS_JOB_ETL="99",
    )
    job = settings.jobs["etl"]
    assert (job.job_id, job.task_type, job.wait_timeout_ms) == (99, "notebook", 5000)


def test_file_job_id_wins_over_env(tmp_path):
    settings = load_toml(tmp_path, "[jobs.etl]\njob_id = 5\n", DATABRICKS_JOB_ETL="99")
    assert settings.jobs["etl"].job_id == 5


def test_job_without_id_is_kept_with_a_warning(tmp_path):
    settings = load_toml(tmp_path, '[jobs.orphan]\ntask_type = "sql"\n')
    assert settings.jobs["orphan"].job_id is None
    assert settings.warnings == (
        'job "orphan" has no configured job ID; its routes will answer 404',
    )


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("timeout_ms = [", {}, "is not valid TOML"),
        ("colour = 1", {}, "unknown field `colour` - at `$`"),
        ("[jobs.etl]\nfoo = 1", {}, "unknown field `foo` - at `$.jobs.etl`"),
        ('[jobs.etl]\ntask_type = "spark"', {}, "unknown task_type 'spark'"),
        ('[jobs.etl]\njob_id = "12abc"', {}, "job_id must be a positive integer"),
        ("", {"DATABRICKS_JOB_ETL": "12abc"}, "job_id must be a positive integer"),
        ("timeout_ms = -1", {}, "Expected `int` >= 1 - at `$.timeout_ms` (timeout_ms: one"),
        ('[jobs.etl]\nrun_as = "root"', {}, "'root' - at `$.jobs.etl.run_as` (run_as: service_"),
        ("header_timeout_ms = 0", {}, "Expected `int` >= 1 - at `$.header_timeout_ms`"),
        ("drain_delay_ms = -1", {}, "Expected `int` >= 0 - at `$.drain_delay_ms`"),
        ("drain_delay_ms = true", {}, "Expected `int`, got `bool` - at `$.drain_delay_ms`"),
    ],
)
def test_broken_configuration_names_the_problem(tmp_path, toml, env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_toml(tmp_path, toml, **env)


def test_unknown_param_type_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="strng"):
        load_toml(tmp_path, '[jobs.etl]\njob_id = 1\n[jobs.etl.params]\nx = "strng"\n')


def test_missing_host_is_a_config_error():
    with pytest.raises(ConfigError, match="DATABRICKS_HOST"):
        load_settings({"DATABRICKS_TOKEN": "t"}, None)


def test_missing_credentials_is_a_config_error():
    with pytest.raises(ConfigError, match="no credentials"):
        load_settings({"DATABRICKS_HOST": "h"}, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ws.example.com", "https://ws.example.com"),
        ("https://ws.example.com/", "https://ws.example.com"),
        ("http://127.0.0.1:8001/", "http://127.0.0.1:8001"),
        ("https://ws.example.com:443", "https://ws.example.com"),
    ],
)
def test_host_normalisation(raw, expected):
    assert normalize_host(raw) == expected


M2M = {"DATABRICKS_CLIENT_ID": "cid", "DATABRICKS_CLIENT_SECRET": "csecret"}


def test_m2m_wins_when_both_are_present(tmp_path):
    assert load_toml(tmp_path, **M2M).workspace.auth_type == "oauth-m2m"


def test_auth_type_pat_forces_the_token(tmp_path):
    assert load_toml(tmp_path, **M2M, DATABRICKS_AUTH_TYPE="pat").workspace.auth_type == "pat"


@pytest.mark.parametrize(
    ("env", "port"), [({"PORT": "9000"}, 9000), ({"DATABRICKS_APP_PORT": "8080"}, 8080), ({}, 8000)]
)
def test_listen_port(tmp_path, env, port):
    assert load_toml(tmp_path, **env).port == port


def test_app_port_wins_over_port(tmp_path):
    """Databricks Apps routes traffic to DATABRICKS_APP_PORT; the image's PORT=8000 must not win."""
    assert load_toml(tmp_path, PORT="8000", DATABRICKS_APP_PORT="8123").port == 8123


def test_secrets_are_masked_everywhere(tmp_path):
    settings = load_toml(tmp_path, **M2M, DATABRICKS_AUTH_TYPE="oauth-m2m")
    shown = f"{settings!r} {describe(settings)} {settings.workspace.client_secret}"
    assert "csecret" not in shown
    assert "dapi-secret" not in repr(load_toml(tmp_path))
    assert settings.workspace.client_secret.value == "csecret"


def test_config_path_precedence(tmp_path):
    assert str(config_path("a.toml", {"JOBS_CONFIG": "b.toml"})) == "a.toml"
    assert str(config_path(None, {"JOBS_CONFIG": "b.toml"})) == "b.toml"


SERVICE = Path(__file__).resolve().parents[2] / "service"
# What runs beside a sidecar, not in it: the HTTP client and the CLI's client commands read their
# own variables (SIDECAR_URL, SIDECAR_API_KEY, TERM), which no deployment sets for the service.
CLIENT_SIDE = {"client", "remote_cli"}


def _is_environ(node: ast.expr) -> bool:
    """`environ` or `os.environ`."""
    return (isinstance(node, ast.Name) and node.id == "environ") or (
        isinstance(node, ast.Attribute) and node.attr == "environ"
    )


def _environment_key(node: ast.AST) -> ast.expr | None:
    """The key of `environ.get(k)`, `environ[k]`, `os.environ...` or `os.getenv(k)`, if `node`
    is one of those."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        if node.func.attr == "get" and _is_environ(node.func.value):
            return node.args[0]
        if node.func.attr == "getenv":
            return node.args[0]
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    return None


def _service_strings() -> tuple[set[str], set[str]]:
    """(names the code looks up in a mapping called `environ`, every string it spells), over
    service/, leaving out the ENVIRONMENT constant's own definition and the remote CLI and its
    client (a program of their own: SIDECAR_URL, SIDECAR_API_KEY are theirs, not the server's)."""
    looked_up: set[str] = set()
    spelled: set[str] = set()
    for module in SERVICE.rglob("*.py"):
        if {"client", "remote_cli"} & set(module.relative_to(SERVICE).parts):
            continue
        tree = ast.parse(module.read_text())
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "ENVIRONMENT" for t in node.targets)
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                spelled.add(node.value)
            key = _environment_key(node)
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                looked_up.add(key.value)
    return looked_up, spelled


def test_every_variable_the_code_looks_up_is_in_environment():
    looked_up, _ = _service_strings()
    assert looked_up, "found no environ lookups: the scan is broken"
    assert looked_up - ENVIRONMENT == set()


def test_every_name_in_environment_is_spelled_by_the_code_that_reads_it():
    _, spelled = _service_strings()
    assert ENVIRONMENT - spelled == set()


def test_the_loader_sees_no_variable_outside_environment(tmp_path):
    # The loader reads what it is given through the list: a name dropped from ENVIRONMENT would
    # be read nowhere, so the list cannot fall behind the code without a test failing.
    settings = load_toml(tmp_path, PORT="9001", DATABRICKS_JOB_ETL="5", NOT_OURS="1")
    assert (settings.port, settings.jobs["etl"].job_id) == (9001, 5)


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("DATABRICKS_HOST", True),
        ("DATABRICKS_JOB_NIGHTLY_ETL", True),
        ("LOG_LEVEL", True),
        ("DATABRICKS_APP_NAME", False),  # Databricks Apps sets it; the service has no use for it
        ("SIDECAR_PORT", False),  # docker-compose.yml's own, for the host's port
        ("PYTHONPATH", False),
    ],
)
def test_reads_variable(name, read):
    assert reads_variable(name) is read


def test_allowed_hosts_come_from_the_file_the_environment_and_databricks_apps(tmp_path):
    settings = load_toml(
        tmp_path,
        '[access]\nallowed_hosts = ["Jobs.Example.com"]\n',
        ALLOWED_HOSTS="*.corp.example, 10.0.0.5",
        DATABRICKS_APP_PORT="8000",
    )
    assert settings.access.allowed_hosts == (
        "jobs.example.com",
        "*.corp.example",
        "10.0.0.5",
        "*.databricksapps.com",
    )


@pytest.mark.parametrize(
    ("toml", "environ"),
    [
        ('[access]\nallowed_hosts = ["https://jobs.example.com"]\n', {}),
        (None, {"ALLOWED_HOSTS": "jobs.example.com:8443"}),
    ],
    ids=["file", "environment"],
)
def test_an_allowed_host_that_is_not_a_name_stops_start_up_naming_it(tmp_path, toml, environ):
    with pytest.raises(ConfigError, match=r"^\[access\] allowed_hosts: '.+' is not a host name"):
        load_toml(tmp_path, toml, **environ)
