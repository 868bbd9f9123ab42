"""The Databricks App's files agree with the code: app.yaml, the databricks.yml bundle, the staged
source (deploy/databricks-app/stage.py, `make app-bundle`) and the Node sample's app.yaml.

Every environment variable a file sets must be one the service reads (service.config's
ENVIRONMENT, which the settings loader itself reads through), every `valueFrom` must name a
resource of the bundle's app, and the staged source must hold what Apps installs and runs.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.cli import argument_parser
from service.config import reads_variable
from tests.e2e.servers import stage_app

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "deploy" / "databricks-app"
NODE = ROOT / "examples" / "node-app"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# What the service takes as a secret (masked wherever shown): never a plain `value` in a file.
SECRETS = {"DATABRICKS_TOKEN", "DATABRICKS_CLIENT_SECRET", "SIDECAR_API_KEYS", "REDIS_URL"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def bundle_app() -> dict[str, Any]:
    (app,) = load(APP / "databricks.yml")["resources"]["apps"].values()
    return app  # type: ignore[no-any-return]


def env_entries(path: Path) -> list[dict[str, str]]:
    return load(path).get("env", [])  # type: ignore[no-any-return]


def command_assignments(command: list[str]) -> set[str]:
    """Names a shell command sets (`NAME=value`) or unsets (`env -u NAME`) for what it runs."""
    words = shlex.split(" ".join(command))
    assigned = {w.split("=", 1)[0] for w in words if re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", w)}
    unset = {words[i + 1] for i, w in enumerate(words[:-1]) if w == "-u"}
    return assigned | unset


@pytest.mark.parametrize("path", [APP / "app.yaml", NODE / "app.yaml"], ids=["python", "node"])
def test_every_variable_an_app_yaml_sets_is_one_the_service_reads(path):
    names = {entry["name"] for entry in env_entries(path)} | command_assignments(
        load(path)["command"]
    )
    assert names, "no variables found: the parsing is broken"
    assert {name for name in names if not reads_variable(name)} == set()


@pytest.mark.parametrize("path", [APP / "app.yaml", NODE / "app.yaml"], ids=["python", "node"])
def test_every_value_from_names_a_resource_of_the_bundles_app(path):
    resources = {resource["name"] for resource in bundle_app()["resources"]}
    used = {entry["valueFrom"] for entry in env_entries(path) if "valueFrom" in entry}
    assert used <= resources


def test_every_resource_of_the_bundles_app_reaches_the_app():
    resources = {resource["name"] for resource in bundle_app()["resources"]}
    used = {entry["valueFrom"] for entry in env_entries(APP / "app.yaml") if "valueFrom" in entry}
    assert resources == used


def test_each_entry_has_a_value_or_a_value_from_and_secrets_only_come_from_resources():
    for entry in env_entries(APP / "app.yaml"):
        assert ("value" in entry) != ("valueFrom" in entry), entry
        if entry["name"] in SECRETS:
            assert "valueFrom" in entry, f"{entry['name']} is a secret: use valueFrom"


def test_the_app_runs_the_service_as_the_image_does():
    command = load(APP / "app.yaml")["command"]
    assert command[:3] == ["python", "-m", "service"]
    assert argument_parser().parse_args(command[3:]).command == "serve"


def test_the_bundle_references_an_existing_job_by_id_with_run_permission():
    (job,) = [r["job"] for r in bundle_app()["resources"] if "job" in r]
    assert job == {"id": "${var.etl_job_id}", "permission": "CAN_MANAGE_RUN"}
    assert "etl_job_id" in load(APP / "databricks.yml")["variables"]
    assert {"name": "DATABRICKS_JOB_ETL", "valueFrom": "etl-job"} in env_entries(APP / "app.yaml")


def test_the_bundle_reads_its_secret_from_a_scope():
    (secret,) = [r["secret"] for r in bundle_app()["resources"] if "secret" in r]
    assert secret["permission"] == "READ"
    assert secret["scope"] == "${var.secret_scope}"


def test_the_bundle_uploads_the_staged_source_that_make_app_bundle_writes():
    bundle = load(APP / "databricks.yml")
    assert bundle_app()["source_code_path"] == "./build"
    assert "build/**" in bundle["sync"]["include"]  # git-ignored: bundles skip it otherwise
    makefile = (ROOT / "Makefile").read_text()
    assert "deploy/databricks-app/stage.py deploy/databricks-app/build" in makefile


def test_every_variable_the_bundle_uses_is_declared():
    text = (APP / "databricks.yml").read_text()
    used = set(re.findall(r"\$\{var\.([a-z_]+)\}", text))
    assert used == set(load(APP / "databricks.yml")["variables"])


def test_the_staged_source_holds_what_apps_installs_and_runs(tmp_path):
    stage_app(tmp_path)
    assert (tmp_path / "app.yaml").read_text() == (APP / "app.yaml").read_text()
    assert (tmp_path / "requirements.txt").read_text() == (APP / "requirements.txt").read_text()
    assert (tmp_path / "config" / "jobs.toml").read_text() == (
        ROOT / "config" / "jobs.toml"
    ).read_text()
    assert (tmp_path / "service" / "__main__.py").is_file()
    assert (tmp_path / "service" / "static" / "index.html").is_file()


def files(folder: Path) -> set[Path]:
    return {
        path.relative_to(folder)
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_staged_package_is_what_its_wheel_holds(tmp_path):
    # The wheel holds every module of the `service*` packages and static/* (pyproject).
    stage_app(tmp_path)
    assert files(tmp_path / "service") == files(ROOT / "service")


def test_the_staged_metadata_names_the_package_its_version_and_script(tmp_path):
    stage_app(tmp_path)
    (info,) = tmp_path.glob("jobs_sidecar-*.dist-info")
    assert info.name == f"jobs_sidecar-{PROJECT['version']}.dist-info"
    metadata = (info / "METADATA").read_text()
    assert f"Name: {PROJECT['name']}\n" in metadata
    assert f"Version: {PROJECT['version']}\n" in metadata
    assert "jobs-sidecar = service.cli:main" in (info / "entry_points.txt").read_text()


def test_staging_into_your_own_app_replaces_only_its_own_files(tmp_path):
    (tmp_path / "app.yaml").write_text("command: [node, server.js]\n")
    (tmp_path / "server.js").write_text("// yours\n")
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "stale.py").write_text("")
    stage_app(tmp_path, "--no-app-yaml")
    stage_app(tmp_path, "--no-app-yaml")  # again: the same result
    assert (tmp_path / "app.yaml").read_text() == "command: [node, server.js]\n"
    assert (tmp_path / "server.js").read_text() == "// yours\n"
    assert not (tmp_path / "service" / "stale.py").exists()
    assert len(list(tmp_path.glob("*.dist-info"))) == 1


def test_staging_takes_another_config_file(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text("[jobs.etl]\ntask_type = 'job'\n")
    stage_app(tmp_path / "app", "--config", str(config))
    assert (tmp_path / "app" / "config" / "jobs.toml").read_text() == config.read_text()


def test_the_node_sample_keeps_the_sidecar_on_loopback_off_the_apps_port():
    assignments = " ".join(load(NODE / "app.yaml")["command"])
    assert "-u DATABRICKS_APP_PORT" in assignments
    assert "HOST=127.0.0.1" in assignments
    assert "ACCESS_MODE=apps" in assignments
    port = re.search(r'PORT="\$\{SIDECAR_PORT:-(\d+)\}"', assignments)
    assert port is not None
    server = (NODE / "server.js").read_text()
    assert f"Number(process.env.SIDECAR_PORT || {port[1]})" in server  # the same default port
