"""docker-compose.yml, read as Compose reads it: services, environment, commands, durations."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from functools import cache
from typing import Any

import yaml

from tests.dockerfile import ROOT, exec_form, final_stage

COMPOSE = ROOT / "docker-compose.yml"


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def default_services() -> dict[str, Any]:
    """What `docker compose up` starts: the services in no profile."""
    return {n: svc for n, svc in compose()["services"].items() if not svc.get("profiles")}


def our_services() -> dict[str, Any]:
    """The services that run the project's image (not Redis)."""
    ours = compose()["services"]["emulator"]["image"]
    return {n: svc for n, svc in compose()["services"].items() if svc.get("image") == ours}


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]  # type: ignore[no-any-return]


def environment(svc: Mapping[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(svc: Mapping[str, Any]) -> list[str]:
    """The service's command, or the image's CMD when it has none."""
    cmd = svc.get("command")
    if cmd is None:
        return exec_form(final_stage().last("CMD").args)
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def container_ports(svc: Mapping[str, Any]) -> list[int]:
    """The container side of each published port ("8000:8000", "127.0.0.1:8000:8000", long form)."""
    ports = []
    for entry in svc.get("ports", []):
        if isinstance(entry, dict):
            ports.append(int(entry["target"]))
        else:
            ports.append(int(str(entry).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts, f"not a compose duration: {duration!r}"
    assert "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def workspace_example() -> dict[str, Any]:
    """The commented real-workspace block at the end of docker-compose.yml, uncommented."""
    text = COMPOSE.read_text()
    match = re.search(
        r"^# BEGIN workspace example\n(.*?)^# END workspace example", text, re.M | re.S
    )
    assert match, "docker-compose.yml lost its commented real-workspace example"
    body = "\n".join(re.sub(r"^# ?", "", line) for line in match[1].splitlines())
    document = yaml.safe_load(body)
    assert isinstance(document, dict)
    return document


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<rest>[^}]*))?\}")


def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against `shell`."""

    def one(m: re.Match[str]) -> str:
        name, op, rest = m["name"], m["op"], m["rest"] or ""
        if shell.get(name):  # `:-` and `:?` treat an empty variable as unset
            return shell[name]
        assert op != ":?", f"{name} would be required: {rest}"
        return rest if op == ":-" else ""

    return _VARIABLE.sub(one, value)


def interpolated(env: Mapping[str, str], shell: Mapping[str, str]) -> dict[str, str]:
    return {k: interpolate(v, shell) for k, v in env.items()}
