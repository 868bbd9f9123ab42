"""Settings as a value: a TOML file merged with the environment by a pure `load_settings`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from service.basics.errors import ConfigError
from service.basics.ids import positive_int64
from service.basics.secret import Secret
from service.params.schemas import schema_from_toml
from service.settings import host_names, toml_file
from service.settings.access_mode import refusal, resolve_mode, trust_warnings
from service.settings.api_keys import ApiKey, load_api_keys, loose_permissions
from service.settings.origins import checked_origins, explicit
from service.settings.proxies import trusted_networks
from service.settings.rates import check_rates
from service.settings.toml_file import AccessTable, JobTable, JobTunables, Tunables

DEFAULT_CONFIG_PATH = Path("config/jobs.toml")
_JOB_ENV = re.compile(r"^DATABRICKS_JOB_(?P<suffix>.+)$")
# Every environment variable the service reads, besides DATABRICKS_JOB_<NAME>: `load_settings`
# sees no other (a name missing here is read nowhere), and the deployment files are checked
# against it. JOBS_CONFIG is read by `config_path`, LOG_LEVEL and EMULATOR_PORT (where `dev`
# serves the local emulator) by the CLI.
ENVIRONMENT = frozenset(
    {
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_AUTH_TYPE",
        "DATABRICKS_APP_PORT",
        "DATABRICKS_APP_URL",
        "ALLOWED_HOSTS",
        "DATABRICKS_JOB_ID",
        "HOST",
        "PORT",
        "ACCESS_MODE",
        "SIDECAR_API_KEYS",
        "REDIS_URL",
        "JOBS_CONFIG",
        "LOG_LEVEL",
        "EMULATOR_PORT",
    }
)
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

AuthType = Literal["pat", "oauth-m2m"]


class Workspace(msgspec.Struct, frozen=True, kw_only=True):
    """Where the Jobs API lives and how we prove who we are."""

    host: str
    auth_type: AuthType
    token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None


class JobSettings(JobTunables, frozen=True, kw_only=True):
    """One named job: its id, task type, parameter schema and whose identity runs it."""

    key: str
    job_id: int | None
    params: type[msgspec.Struct] | None


class Settings(Tunables, frozen=True, kw_only=True):
    """Everything the service reads at start-up; built once, never mutated."""

    # The file's settings are the fields of `Tunables`; these come from the environment.
    workspace: Workspace
    jobs: dict[str, JobSettings]
    listen_host: str = "0.0.0.0"  # noqa: S104 - a container's port is published on all interfaces
    port: int = 8000
    # Origins (`https://host[:port]`) whose pages may POST and DELETE cross-site
    # (service.front_door.cross_site).
    allowed_origins: tuple[str, ...] = ()
    # Token mode's callers (service.settings.api_keys): from SIDECAR_API_KEYS and
    # `access.api_keys_file`.
    api_keys: tuple[ApiKey, ...] = ()
    # REDIS_URL: replicas share the cache, the poll loops and the key memory
    # (service.scale_out.redis_link).
    redis_url: Secret | None = None
    warnings: tuple[str, ...] = ()


def load_settings(environ: Mapping[str, str], path: Path | None = None) -> Settings:
    """Build settings from a TOML file (or none) and the environment; raise ConfigError."""
    environ = {name: value for name, value in environ.items() if reads_variable(name)}
    file, tables = toml_file.read(path)
    jobs, warnings = _merge_jobs(tables, environ)
    if not jobs:
        warnings.append(
            "no jobs are configured: every job route will answer 404; add [jobs.<key>] "
            "tables to the config file or set DATABRICKS_JOB_<NAME>=<job id>"
        )
    tunables = {name: getattr(file, name) for name in Tunables.__struct_fields__}
    access = _access(file.access, environ)
    api_keys = load_api_keys(environ, access.api_keys_file) if access.mode == "token" else ()
    listen_host = environ.get("HOST", "0.0.0.0")  # noqa: S104 - see Settings.listen_host
    warnings += trust_warnings(access, listen_host)
    if access.mode == "token" and access.api_keys_file:
        warnings += filter(None, [loose_permissions(Path(access.api_keys_file))])
    access = msgspec.structs.replace(access, cors_origins=_cors_origins(access.cors_origins))
    check_rates(file.limits, {key: job.limits for key, job in jobs.items()})
    return checked_scale(
        Settings(
            workspace=_workspace(environ),
            jobs=jobs,
            listen_host=listen_host,
            port=_port(environ),
            allowed_origins=explicit(access.cors_origins),
            api_keys=api_keys,
            redis_url=_redis_url(environ),
            warnings=tuple(warnings),
            **(tunables | {"access": access}),
        )
    )


def reads_variable(name: str) -> bool:
    """Whether the service reads the environment variable `name` (see ENVIRONMENT)."""
    return name in ENVIRONMENT or _JOB_ENV.match(name) is not None


def _access(table: AccessTable, environ: Mapping[str, str]) -> AccessTable:
    """`[access]` with its mode resolved (service.settings.access_mode), its proxy ranges checked,
    and its allowed hosts with ALLOWED_HOSTS and the platform's names
    (service.settings.host_names)."""
    listed = [name for name in environ.get("ALLOWED_HOSTS", "").split(",") if name.strip()]
    try:
        trusted_networks(table.trusted_proxies)
        allowed = host_names.checked_entries([*table.allowed_hosts, *listed])
    except ValueError as exc:
        raise ConfigError(f"[access] {exc}") from None
    try:
        platform = host_names.platform_hosts(environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    allowed = tuple(dict.fromkeys((*allowed, *platform)))
    mode = resolve_mode(table, environ)
    return msgspec.structs.replace(table, mode=mode, allowed_hosts=allowed)


def check_serving(settings: Settings) -> None:
    """Refuse to serve without a mode, open to the network by accident, or with no keys."""
    problem = refusal(settings.access, settings.listen_host, len(settings.api_keys))
    if problem is not None:
        raise ConfigError(problem)


def _cors_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return checked_origins(origins)
    except ValueError as exc:
        raise ConfigError(f"[access] {exc}") from None


def checked_scale(settings: Settings) -> Settings:
    """`workers` > 1 needs REDIS_URL: without it each worker would poll, cache and remember
    keys alone, and a stream could not resume on another worker."""
    if settings.workers > 1 and settings.redis_url is None:
        raise ConfigError(
            f"workers = {settings.workers} needs REDIS_URL (the workers share state over Redis); "
            "set REDIS_URL or use workers = 1"
        )
    return settings


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
    """The effective configuration, secrets masked, each file setting with its meaning."""
    ws = settings.workspace
    return {
        "workspace": {
            name: "***" if isinstance(value := getattr(ws, name), Secret) else value
            for name in ws.__struct_fields__
        },
        "listen": f"{settings.listen_host}:{settings.port}",
        **{name: _shown(getattr(settings, name)) for name in Tunables.__struct_fields__},
        "allowed_origins": list(settings.allowed_origins),
        "api_keys": [key.name for key in settings.api_keys],
        "redis": _shown_redis_url(settings.redis_url),
        "jobs": {
            key: {
                "job_id": job.job_id,
                **{name: _shown(getattr(job, name)) for name in JobTable.__struct_fields__},
                "params": sorted(job.params.__struct_fields__) if job.params else None,
            }
            for key, job in settings.jobs.items()
        },
        "descriptions": toml_file.descriptions(),
        "warnings": list(settings.warnings),
    }


def _shown(value: object) -> object:
    """A setting as JSON shows it (tables as objects)."""
    return msgspec.to_builtins(value) if isinstance(value, msgspec.Struct) else value


def _discovered(environ: Mapping[str, str]) -> dict[str, str]:
    """Job key → raw id from DATABRICKS_JOB_<NAME> (non-empty values only), as AppKit does."""
    found: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        match = _JOB_ENV.match(name)
        if match and name != "DATABRICKS_JOB_ID" and value.strip():
            found[match["suffix"].lower()] = value.strip()
    return found


def _merge_jobs(
    file_jobs: Mapping[str, JobTable], environ: Mapping[str, str]
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
        table = file_jobs.get(key, JobTable())
        job = JobSettings(
            **{name: getattr(table, name) for name in JobTunables.__struct_fields__},
            key=key,
            job_id=_job_id(key, table.job_id if table.job_id is not None else env_ids.get(key)),
            params=schema_from_toml(key, table.params) if table.params is not None else None,
        )
        if job.job_id is None:
            warnings.append(f'job "{key}" has no configured job ID; its routes will answer 404')
        jobs[key] = job
    return jobs, warnings


def _job_id(key: str, raw: object) -> int | None:
    """Ids are positive int64s; '12abc' is an error here, not 12 as in AppKit."""
    if raw is None:
        return None
    job_id = positive_int64(str(raw).strip()) if not isinstance(raw, bool) else None
    if job_id is None:
        raise ConfigError(f"job {key!r}: job_id must be a positive integer, got {raw!r}")
    return job_id


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


def port_setting(environ: Mapping[str, str]) -> str:
    """The variable the port comes from: DATABRICKS_APP_PORT first, as Databricks Apps routes
    traffic there whatever PORT says."""
    return "DATABRICKS_APP_PORT" if environ.get("DATABRICKS_APP_PORT") else "PORT"


def _port(environ: Mapping[str, str]) -> int:
    name = port_setting(environ)
    raw = environ.get(name) or "8000"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name} must be a TCP port number, got {raw!r}")
    return int(raw)


def _redis_url(environ: Mapping[str, str]) -> Secret | None:
    """REDIS_URL (redis://, rediss:// or unix://); a URL may carry a password, so it is a Secret."""
    raw = environ.get("REDIS_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError("REDIS_URL has a port that is not a number") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
    return Secret(raw)


def _shown_redis_url(url: Secret | None) -> str | None:
    """Where Redis is, without its credentials."""
    if url is None:
        return None
    parts = urlsplit(url.value)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
