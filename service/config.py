"""Settings as a value: a TOML file merged with the environment by a pure `load_settings`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from service.errors import ConfigError
from service.params import TASK_TYPES, schema_from_toml

DEFAULT_CONFIG_PATH = Path("config/jobs.toml")
MIN_POLL_FLOOR_MS = 1_000  # the Jobs API is not polled faster than once a second per run
_JOB_ENV = re.compile(r"^DATABRICKS_JOB_(?P<suffix>.+)$")
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

AuthType = Literal["pat", "oauth-m2m"]
RunAs = Literal["service_principal", "user"]


class Secret(str):
    """A string that masks itself wherever it is shown."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    @property
    def value(self) -> str:
        return str.__str__(self)


class Workspace(msgspec.Struct, frozen=True, kw_only=True):
    """Where the Jobs API lives and how we prove who we are."""

    host: str
    auth_type: AuthType
    token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None


class JobSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One named job: its id, task type, parameter schema and whose identity runs it."""

    key: str
    job_id: int | None = None
    task_type: str | None = None
    wait_timeout_ms: int = 600_000
    params: type[msgspec.Struct] | None = None
    run_as: RunAs = "service_principal"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service reads at start-up; built once, never mutated."""

    workspace: Workspace
    jobs: dict[str, JobSettings]
    # One attempt of a Jobs API call, whole: connect, send, headers and every byte of the body.
    # Why 10 s: shorter than the read tier's 30 s budget, so a stalled attempt is retried.
    timeout_ms: int = 10_000
    max_upstream_bytes: int = 16 * 1024 * 1024  # a longer reply is a 502, read no further
    poll_interval_ms: int = 5_000
    # Streams and pollers.
    poll_floor_ms: int = MIN_POLL_FLOOR_MS
    poll_max_ms: int = 30_000
    poll_retry_after_max_ms: int = 60_000  # the longest Retry-After a poll obeys (or 10 intervals)
    heartbeat_ms: int = 15_000
    max_streams: int = 10_000
    stream_buffer: int = 64
    stream_queue: int = 32
    # The read tier.
    cache_ttl_ms: int = 60_000
    cache_max_entries: int = 10_000
    # Serving.
    listen_host: str = "0.0.0.0"  # noqa: S104 - a container's port is published on all interfaces
    port: int = 8000
    shutdown_grace_ms: int = 10_000
    # One client cannot take the process down (see service/serving.py, service/body_limits.py).
    max_body_bytes: int = 64 * 1024
    header_timeout_ms: int = 10_000
    body_timeout_ms: int = 30_000
    dead_peer_timeout_ms: int = 120_000
    drain_delay_ms: int = 0
    # Idempotency keys: how long a key stays bound to its parameters, and how many are kept.
    idempotency_ttl_ms: int = 86_400_000
    idempotency_max_keys: int = 20_000  # about 0.5 KB each
    # Origins (`https://host[:port]`) whose pages may POST and DELETE cross-site (service.origin).
    allowed_origins: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


_TOP_KEYS = {
    "timeout_ms",
    "max_upstream_bytes",
    "poll_interval_ms",
    "poll_floor_ms",
    "poll_max_ms",
    "poll_retry_after_max_ms",
    "heartbeat_ms",
    "max_streams",
    "stream_buffer",
    "stream_queue",
    "cache_ttl_ms",
    "cache_max_entries",
    "shutdown_grace_ms",
    "max_body_bytes",
    "header_timeout_ms",
    "body_timeout_ms",
    "dead_peer_timeout_ms",
    "drain_delay_ms",
    "idempotency_ttl_ms",
    "idempotency_max_keys",
    "jobs",
}
_MAY_BE_ZERO = {"drain_delay_ms"}
_JOB_KEYS = {"job_id", "task_type", "wait_timeout_ms", "params", "run_as"}


def load_settings(environ: Mapping[str, str], path: Path | None = None) -> Settings:
    """Build settings from a TOML file (or none) and the environment; raise ConfigError."""
    document = _read_toml(path) if path is not None else {}
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} in {path}")
    top: dict[str, Any] = {k: _positive_int(k, v) for k, v in document.items() if k != "jobs"}
    if top.get("poll_floor_ms", MIN_POLL_FLOOR_MS) < MIN_POLL_FLOOR_MS:
        raise ConfigError(
            f"setting 'poll_floor_ms' must be at least {MIN_POLL_FLOOR_MS} (a run is never "
            f"polled faster than once a second), got {top['poll_floor_ms']}"
        )
    file_jobs = document.get("jobs", {})
    if not isinstance(file_jobs, dict):
        raise ConfigError("[jobs] must be a table of job keys")
    jobs, warnings = _merge_jobs(file_jobs, environ)
    if not jobs:
        warnings.append(
            "no jobs are configured: every job route will answer 404; add [jobs.<key>] "
            "tables to the config file or set DATABRICKS_JOB_<NAME>=<job id>"
        )
    return Settings(
        workspace=_workspace(environ),
        jobs=jobs,
        listen_host=environ.get("HOST", "0.0.0.0"),  # noqa: S104 - see Settings.listen_host
        port=_port(environ),
        warnings=tuple(warnings),
        **top,
    )


def config_path(cli_path: str | None, environ: Mapping[str, str]) -> Path | None:
    """`--config`, else JOBS_CONFIG, else config/jobs.toml when present."""
    if cli_path:
        return Path(cli_path)
    if environ.get("JOBS_CONFIG"):
        return Path(environ["JOBS_CONFIG"])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def normalize_host(raw: str) -> str:
    """Add https:// when no scheme is given, keep http://, drop a trailing slash and :443."""
    host = raw.strip()
    if "://" not in host:
        host = f"https://{host}"
    host = host.rstrip("/")
    if host.startswith("https://") and host.endswith(":443"):
        host = host[: -len(":443")]
    return host


def describe(settings: Settings) -> dict[str, Any]:
    """The effective configuration, secrets masked, for `check-config`."""
    ws = settings.workspace
    return {
        "workspace": {
            "host": ws.host,
            "auth_type": ws.auth_type,
            "token": "***" if ws.token else None,
            "client_id": ws.client_id,
            "client_secret": "***" if ws.client_secret else None,
        },
        "listen": f"{settings.listen_host}:{settings.port}",
        "timeout_ms": settings.timeout_ms,
        "poll_interval_ms": settings.poll_interval_ms,
        "jobs": {
            key: {
                "job_id": job.job_id,
                "task_type": job.task_type,
                "wait_timeout_ms": job.wait_timeout_ms,
                "run_as": job.run_as,
                "params": sorted(job.params.__struct_fields__) if job.params else None,
            }
            for key, job in settings.jobs.items()
        },
        "warnings": list(settings.warnings),
    }


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _positive_int(name: str, value: object) -> int:
    if name in _MAY_BE_ZERO and value == 0 and not isinstance(value, bool):
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"setting {name!r} must be a positive integer, got {value!r}")
    return value


def _discovered(environ: Mapping[str, str]) -> dict[str, str]:
    """Job key → raw id from DATABRICKS_JOB_<NAME> (non-empty values only), as AppKit does."""
    found: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        match = _JOB_ENV.match(name)
        if match and name != "DATABRICKS_JOB_ID" and value.strip():
            found[match["suffix"].lower()] = value.strip()
    return found


def _merge_jobs(
    file_jobs: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, JobSettings], list[str]]:
    env_ids = _discovered(environ)
    default_id = environ.get("DATABRICKS_JOB_ID", "").strip()
    if default_id and not file_jobs and not env_ids:
        env_ids["default"] = default_id
    elif default_id and "default" in file_jobs:
        env_ids.setdefault("default", default_id)
    jobs: dict[str, JobSettings] = {}
    warnings: list[str] = []
    for key in [*file_jobs, *(k for k in env_ids if k not in file_jobs)]:
        if not _KEY.match(key):
            raise ConfigError(f"job key {key!r} may hold only letters, digits, '_' and '-'")
        table = file_jobs.get(key, {})
        if not isinstance(table, dict):
            raise ConfigError(f"job {key!r} must be a table")
        job = _job(key, table, env_ids.get(key))
        if job.job_id is None:
            warnings.append(f'job "{key}" has no configured job ID; its routes will answer 404')
        jobs[key] = job
    return jobs, warnings


def _job(key: str, table: Mapping[str, Any], env_id: str | None) -> JobSettings:
    unknown = sorted(set(table) - _JOB_KEYS)
    if unknown:
        raise ConfigError(f"job {key!r}: unknown setting {unknown[0]!r}")
    task_type = table.get("task_type")
    if task_type is not None and task_type not in TASK_TYPES:
        raise ConfigError(
            f"job {key!r}: unknown task_type {task_type!r} "
            f"(expected one of: {', '.join(sorted(TASK_TYPES))})"
        )
    run_as = table.get("run_as", "service_principal")
    if run_as not in ("service_principal", "user"):
        raise ConfigError(f"job {key!r}: run_as must be 'service_principal' or 'user'")
    params = table.get("params")
    if params is not None and not isinstance(params, dict):
        raise ConfigError(f"job {key!r}: params must be a table of field = type")
    return JobSettings(
        key=key,
        job_id=_job_id(key, table.get("job_id", env_id)),
        task_type=task_type,
        wait_timeout_ms=_positive_int(
            f"jobs.{key}.wait_timeout_ms", table.get("wait_timeout_ms", 600_000)
        ),
        params=schema_from_toml(key, params) if params is not None else None,
        run_as=run_as,
    )


def _job_id(key: str, raw: object) -> int | None:
    """Ids are positive int64s; '12abc' is an error here, not 12 as in AppKit."""
    if raw is None:
        return None
    text = str(raw).strip() if not isinstance(raw, bool) else ""
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise ConfigError(f"job {key!r}: job_id must be a positive integer, got {raw!r}")
    return int(text)


def _workspace(environ: Mapping[str, str]) -> Workspace:
    raw_host = environ.get("DATABRICKS_HOST", "").strip()
    if not raw_host:
        raise ConfigError(
            "DATABRICKS_HOST is not set (the workspace URL); to try the service without a "
            "workspace, `make run` serves demo jobs on the local emulator"
        )
    token = environ.get("DATABRICKS_TOKEN", "").strip()
    client_id = environ.get("DATABRICKS_CLIENT_ID", "").strip()
    client_secret = environ.get("DATABRICKS_CLIENT_SECRET", "").strip()
    forced = environ.get("DATABRICKS_AUTH_TYPE", "").strip().lower()
    m2m = bool(client_id and client_secret)
    if forced not in ("", "pat", "oauth-m2m"):
        raise ConfigError(f"DATABRICKS_AUTH_TYPE must be 'pat' or 'oauth-m2m', got {forced!r}")
    if forced == "pat" or (token and not m2m and forced != "oauth-m2m"):
        if not token:
            raise ConfigError("DATABRICKS_AUTH_TYPE=pat but DATABRICKS_TOKEN is not set")
        return Workspace(host=normalize_host(raw_host), auth_type="pat", token=Secret(token))
    if m2m:
        return Workspace(
            host=normalize_host(raw_host),
            auth_type="oauth-m2m",
            client_id=client_id,
            client_secret=Secret(client_secret),
        )
    raise ConfigError(
        "no credentials: set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
    )


def _port(environ: Mapping[str, str]) -> int:
    """DATABRICKS_APP_PORT first: Databricks Apps routes traffic there, whatever PORT says."""
    name = next((n for n in ("DATABRICKS_APP_PORT", "PORT") if environ.get(n)), None)
    raw = environ[name] if name else "8000"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name or 'PORT'} must be a TCP port number, got {raw!r}")
    return int(raw)
