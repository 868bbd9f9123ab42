"""Settings as a value: a TOML file merged with the environment by a pure `load_settings`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from service.errors import ConfigError
from service.params import TASK_TYPES, schema_from_toml

DEFAULT_CONFIG_PATH = Path("config/jobs.toml")
MIN_POLL_FLOOR_MS = 1_000  # the Jobs API is not polled faster than once a second per run
_JOB_ENV = re.compile(r"^DATABRICKS_JOB_(?P<suffix>.+)$")
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

AuthType = Literal["pat", "oauth-m2m"]
RunAs = Literal["service_principal", "user"]
T = TypeVar("T")


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


# A TOML file's value is decoded, not hand-checked: each setting is declared once below, with
# its default, its constraint and the sentence `check-config` shows beside it.
Ms = Annotated[int, Meta(ge=1)]
Count = Annotated[int, Meta(ge=1)]


class JobTunables(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of one `[jobs.<key>]` table that reach the service as written."""

    task_type: Annotated[
        str | None,
        Meta(description="notebook, python_wheel, python_script, spark_jar, sql, dbt or job"),
    ] = None
    wait_timeout_ms: Annotated[
        Ms, Meta(description="how long run-and-wait waits for the run to end (watches: no limit)")
    ] = 600_000
    run_as: Annotated[
        RunAs, Meta(description="service_principal, or user: act with X-Forwarded-Access-Token")
    ] = "service_principal"

    def __post_init__(self) -> None:
        if self.task_type is not None and self.task_type not in TASK_TYPES:
            raise ValueError(
                f"unknown task_type {self.task_type!r} "
                f"(expected one of: {', '.join(sorted(TASK_TYPES))})"
            )


class JobTable(JobTunables, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One `[jobs.<key>]` table as the file holds it, before the environment is merged in."""

    job_id: Annotated[
        int | str | None, Meta(description="the Databricks job id (or DATABRICKS_JOB_<KEY>)")
    ] = None
    params: Annotated[
        dict[str, Any] | None, Meta(description="the parameter schema; a misfit is a 400")
    ] = None


class JobSettings(JobTunables, frozen=True, kw_only=True):
    """One named job: its id, task type, parameter schema and whose identity runs it."""

    key: str
    job_id: int | None
    params: type[msgspec.Struct] | None


class Tunables(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The top-level settings of the TOML file, each with its default, bound and meaning."""

    # Why 10 s: shorter than the read tier's 30 s budget, so a stalled attempt is retried.
    timeout_ms: Annotated[
        Ms, Meta(description="one attempt of a Jobs API call, body included; then it is retried")
    ] = 10_000
    max_upstream_bytes: Annotated[
        Count, Meta(description="the longest reply read from Databricks; longer is a 502")
    ] = 16 * 1024 * 1024
    poll_interval_ms: Annotated[
        Ms, Meta(description="how often a watched run is polled (backs off while unchanged)")
    ] = 5_000
    poll_floor_ms: Annotated[
        int,
        Meta(ge=MIN_POLL_FLOOR_MS, description="never poll a run faster than this (1000 at least)"),
    ] = MIN_POLL_FLOOR_MS
    poll_max_ms: Annotated[Ms, Meta(description="the poll back-off cap")] = 30_000
    poll_retry_after_max_ms: Annotated[
        Ms, Meta(description="the longest Retry-After a poll obeys (or 10 intervals if longer)")
    ] = 60_000
    heartbeat_ms: Annotated[
        Ms, Meta(description="a comment on quiet event streams, so proxies keep them open")
    ] = 15_000
    max_streams: Annotated[
        Count, Meta(description="open event streams; beyond this, 503 with Retry-After")
    ] = 10_000
    stream_buffer: Annotated[
        Count, Meta(description="events kept per run for clients resuming with Last-Event-ID")
    ] = 64
    stream_queue: Annotated[
        Count, Meta(description="events a slow client may fall behind before it is dropped")
    ] = 32
    cache_ttl_ms: Annotated[
        Ms, Meta(description="read cache TTL for finished runs and jobs (active: poll interval)")
    ] = 60_000
    cache_max_entries: Annotated[Count, Meta(description="the read cache bound")] = 10_000
    shutdown_grace_ms: Annotated[
        Ms, Meta(description="how long SIGTERM waits for requests to finish")
    ] = 10_000
    # One client cannot take the process down (see service/serving.py, service/body_limits.py).
    max_body_bytes: Annotated[
        Count, Meta(description="a larger request body is a 413, refused without reading it")
    ] = 64 * 1024
    header_timeout_ms: Annotated[
        Ms, Meta(description="a request's headers must arrive within this (else 408, closed)")
    ] = 10_000
    body_timeout_ms: Annotated[
        Ms, Meta(description="a request body must arrive within this (else 408)")
    ] = 30_000
    dead_peer_timeout_ms: Annotated[
        Ms, Meta(description="TCP keepalive/TCP_USER_TIMEOUT: a vanished client is dropped")
    ] = 120_000
    drain_delay_ms: Annotated[
        int, Meta(ge=0, description="after SIGTERM, /readyz is 503 but serving goes on this long")
    ] = 0
    idempotency_ttl_ms: Annotated[
        Ms, Meta(description="an Idempotency-Key stays bound to its parameters this long")
    ] = 86_400_000
    idempotency_max_keys: Annotated[
        Count, Meta(description="client keys remembered (oldest forgotten first; ~0.5 KB each)")
    ] = 20_000


class SettingsFile(Tunables, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole TOML file: the top-level settings and one table per job key."""

    # Tables, decoded one by one (see `_decode`), so an error names the job key.
    jobs: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


class Settings(Tunables, frozen=True, kw_only=True):
    """Everything the service reads at start-up; built once, never mutated."""

    workspace: Workspace
    jobs: dict[str, JobSettings]
    listen_host: str = "0.0.0.0"  # noqa: S104 - a container's port is published on all interfaces
    port: int = 8000
    # Origins (`https://host[:port]`) whose pages may POST and DELETE cross-site (service.origin).
    allowed_origins: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def load_settings(environ: Mapping[str, str], path: Path | None = None) -> Settings:
    """Build settings from a TOML file (or none) and the environment; raise ConfigError."""
    document = _read_toml(path) if path is not None else {}
    file = _decode(document, SettingsFile, path, "$")
    tables = {key: _decode(t, JobTable, path, f"$.jobs.{key}") for key, t in file.jobs.items()}
    jobs, warnings = _merge_jobs(tables, environ)
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
        **{name: getattr(file, name) for name in Tunables.__struct_fields__},
    )


def _decode(raw: object, into: type[T], path: Path | None, where: str) -> T:
    """`raw` as `into`, strictly; a misfit is a ConfigError naming the file and the setting."""
    try:
        return msgspec.convert(raw, into, strict=True)
    except msgspec.ValidationError as exc:
        problem, _, at = str(exc).partition(" - at `$")
        name = at.strip(".`").split(".")[-1]
        meaning = _meanings(into).get(name)
        hint = f" ({name}: {meaning})" if meaning else ""
        raise ConfigError(f"{path}: {problem} - at `{where}{at or '`'}{hint}") from None


def _meanings(struct: type[Any]) -> dict[str, str]:
    """Field → its `Meta(description=...)`, read from the JSON schema msgspec derives."""
    schema = msgspec.json.schema(struct)
    fields = schema["$defs"][struct.__name__]["properties"]
    return {name: field["description"] for name, field in fields.items() if "description" in field}


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
        **{name: getattr(settings, name) for name in Tunables.__struct_fields__},
        "allowed_origins": list(settings.allowed_origins),
        "jobs": {
            key: {
                "job_id": job.job_id,
                **{name: getattr(job, name) for name in JobTable.__struct_fields__},
                "params": sorted(job.params.__struct_fields__) if job.params else None,
            }
            for key, job in settings.jobs.items()
        },
        "descriptions": _descriptions(),
        "warnings": list(settings.warnings),
    }


def _descriptions() -> dict[str, str]:
    """Setting → its `Meta(description=...)`, read from the schema msgspec derives."""
    return {
        **_meanings(Tunables),
        **{f"jobs.<key>.{name}": text for name, text in _meanings(JobTable).items()},
    }


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


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
