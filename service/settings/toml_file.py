"""The TOML file as strict structs: each setting declared once, with default, bound and meaning.

The file is decoded (`msgspec.convert(..., strict=True)`), not hand-checked; a new setting is one
field of `Tunables` (or `JobTunables`), and `Settings` and `check-config` pick it up from there.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from service.basics.errors import ConfigError
from service.params.schemas import TASK_TYPES

MIN_POLL_FLOOR_MS = 1_000  # the Jobs API is not polled faster than once a second per run
RunAs = Literal["service_principal", "user"]
T = TypeVar("T")

Ms = Annotated[int, Meta(ge=1)]
Count = Annotated[int, Meta(ge=1)]
AccessMode = Literal["apps", "token", "open"]
ACCESS_MODES: tuple[AccessMode, ...] = ("apps", "token", "open")
# "10/minute", "2 per hour", "100/second": parsed by the `limits` library
# (service.front_door.rate_limits).
Rate = Annotated[str, Meta(pattern=r"^\s*\d+\s*(/|per)\s*(\d+\s*)?[a-z]+\s*$")]
# Caller names, `*@domain`, or `*` (service.front_door.permissions); no other wildcard, no blanks.
CallerEntry = Annotated[str, Meta(pattern=r"^(\*|\*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|[^*\s]+)$")]
Callers = tuple[CallerEntry, ...]
# Loopback and the private ranges: where a sidecar's proxy sits (Databricks Apps, a pod, compose).
PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)


class AccessTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[access]`: who may call (service.front_door.authentication) and from which origin."""

    mode: Annotated[
        AccessMode | None,
        Meta(
            description="apps | token | open (env ACCESS_MODE); unset: apps in Databricks Apps, "
            "open on loopback, else start-up stops (service.access_mode)"
        ),
    ] = None
    trusted_proxies: Annotated[
        tuple[str, ...],
        Meta(description="apps mode: the peers (CIDRs) whose X-Forwarded-* headers are believed"),
    ] = PRIVATE_NETWORKS
    api_keys_file: Annotated[
        str | None,
        Meta(description='token mode: a file of "name:secret" lines (or env SIDECAR_API_KEYS)'),
    ] = None
    allow_open: Annotated[
        bool, Meta(description="open mode on a non-loopback address, only if true (on purpose)")
    ] = False
    cors_origins: Annotated[
        tuple[str, ...],
        Meta(description="origins whose pages may call from a browser (CORS), e.g. https://a.b"),
    ] = ()
    metrics: Annotated[
        Literal["open", "auth"], Meta(description="/metrics open, or only for callers (auth)")
    ] = "open"
    allowed_hosts: Annotated[
        tuple[str, ...],
        Meta(
            description="Host names answered besides loopback and the bind address (else 421): "
            "names, *.domain, addresses (env ALLOWED_HOSTS adds, comma-separated)"
        ),
    ] = ()


class LimitsTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[limits]`: how often a caller may call (service.front_door.rate_limits); over it, 429."""

    trigger: Annotated[Rate, Meta(description="runs a caller may start per job")] = "10/minute"
    read: Annotated[Rate, Meta(description="reads a caller may make, all jobs")] = "600/minute"
    streams_per_caller: Annotated[
        Count, Meta(description="event streams one caller may hold open at once")
    ] = 100


class JobAccess(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[jobs.<key>.access]`: which callers may run (trigger, cancel) and view the job."""

    run: Annotated[
        Callers,
        Meta(description="of those who may view, who may trigger and cancel: names, *@domain, *"),
    ] = ("*",)
    view: Annotated[
        Callers, Meta(description="callers who may read, list and watch: names, *@domain or *")
    ] = ("*",)


class JobLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[jobs.<key>.limits]`: this job's own limits, over `[limits]`."""

    trigger: Annotated[
        Rate | None, Meta(description="runs a caller may start of this job ([limits] if unset)")
    ] = None


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
    access: JobAccess = msgspec.field(default_factory=JobAccess)
    limits: JobLimits = msgspec.field(default_factory=JobLimits)

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
    # One client cannot take the process down (see service/serving/server.py,
    # service/front_door/body_limits.py).
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
    # Scale-out (service/scale_out/redis_link.py): used only when REDIS_URL is set.
    redis_timeout_ms: Annotated[
        Ms, Meta(le=10_000, description="a Redis call's connect/read limit; past it, local mode")
    ] = 500
    redis_prefix: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=64,
            pattern="^[A-Za-z0-9_.-]+$",
            description="the prefix of every Redis key (the replicas of one service share it)",
        ),
    ] = "jobs-sidecar"
    # Why not uvloop by default: it saves ~9 % CPU a request (bench 7), but its accept loop
    # does not report EMFILE through the loop's exception handler
    # (service/serving/accept_errors.py), so out of fds it neither logs once a second nor is tested
    # to recover.
    event_loop: Annotated[
        Literal["asyncio", "uvloop"],
        Meta(description="asyncio's own event loop, or uvloop's (Hypercorn's uvloop worker class)"),
    ] = "asyncio"
    workers: Annotated[
        int,
        Meta(
            ge=1, le=64, description="server processes on the one port; more than 1 needs REDIS_URL"
        ),
    ] = 1
    access: AccessTable = msgspec.field(default_factory=AccessTable)
    limits: LimitsTable = msgspec.field(default_factory=LimitsTable)


class SettingsFile(Tunables, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole TOML file: the top-level settings and one table per job key."""

    # Tables, decoded one by one (see `_decode`), so an error names the job key.
    jobs: dict[str, Any] = msgspec.field(default_factory=dict)


def read(path: Path | None) -> tuple[SettingsFile, dict[str, JobTable]]:
    """The file's settings and its job tables, strictly decoded; a misfit is a ConfigError."""
    document = _read_toml(path) if path is not None else {}
    file = _decode(document, SettingsFile, path, "$")
    tables = {key: _decode(t, JobTable, path, f"$.jobs.{key}") for key, t in file.jobs.items()}
    return file, tables


def descriptions() -> dict[str, str]:
    """Setting (dotted, tables included) → its `Meta(description=...)`, from msgspec's schema."""
    return {
        **_meanings(Tunables),
        **{f"jobs.<key>.{name}": text for name, text in _meanings(JobTable).items()},
    }


def _decode(raw: object, into: type[T], path: Path | None, where: str) -> T:
    """`raw` as `into`, strictly; a misfit is a ConfigError naming the file and the setting."""
    try:
        return msgspec.convert(raw, into, strict=True)
    except msgspec.ValidationError as exc:
        problem, _, at = str(exc).partition(" - at `$")
        name = ".".join(part for part in at.strip(".`").split(".") if part.isidentifier())
        meaning = _meanings(into).get(name)
        hint = f" ({name}: {meaning})" if meaning else ""
        raise ConfigError(f"{path}: {problem} - at `{where}{at or '`'}{hint}") from None


def _meanings(struct: type[Any]) -> dict[str, str]:
    """Field → its `Meta(description=...)`; a table's fields as `table.field`."""
    _, components = msgspec.json.schema_components([struct])
    return _described(components, struct.__name__, "")


def _described(components: dict[str, Any], name: str, prefix: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for field, spec in components[name]["properties"].items():
        if "description" in spec:
            found[prefix + field] = spec["description"]
        elif ref := spec.get("$ref", ""):
            found |= _described(components, ref.rsplit("/", 1)[-1], f"{prefix}{field}.")
    return found


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:  # a directory, no permission, an I/O error
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid TOML: it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
