"""jobs-sidecar: trigger, watch and cancel Databricks Jobs over HTTP, or from a Python program.

What a program imports is named here, and only here (`__all__`); the modules under service/ are
the service's own rooms and may move. The Python API, for a program that holds the workspace's
credentials:

    from service import Jobs, RunFailed, config_path, load_settings

    settings = load_settings(os.environ, config_path(None, os.environ))
    async with Jobs.open(settings) as jobs:
        result = await jobs("etl").run_now({"run_date": "2026-11-29"})

`create_app(settings)` is the service itself, an ASGI app to serve; `mountable(settings)` the same
with the lifespan a host app enters when it mounts it (docs/embedding.md). The HTTP client of a
running sidecar is `service.client` (it imports nothing of the server). The errors are the
tree drawn in `SidecarError`'s module. Each name is imported when first used, so `import service`
(and `python -m service.emulator`, which needs none of them) loads nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.app import create_app
    from service.basics.errors import (
        CannotListen,
        ClientError,
        ConfigError,
        CrossOrigin,
        Forbidden,
        HeadersTooLarge,
        IdempotencyKeyReused,
        InvalidParams,
        InvalidRequest,
        JobNotConfigured,
        JobNotFound,
        MisdirectedHost,
        MissingUserToken,
        NothingToRepair,
        OutcomeUnknown,
        PayloadTooLarge,
        RateLimited,
        RequestTimeout,
        RouteRefused,
        RunFailed,
        RunNotFinished,
        RunNotFound,
        SidecarError,
        Unauthenticated,
        Unavailable,
        UnknownJob,
        UpstreamAuthFailed,
        UpstreamError,
        UpstreamInvalid,
        UpstreamNotFound,
        UpstreamRejected,
        UpstreamThrottled,
        UpstreamTimeout,
        UpstreamTooLarge,
        UpstreamUnavailable,
        UserTokenRefused,
        WaitTimeout,
    )
    from service.mount import Mountable, mountable
    from service.python_api import ExecutionError, ExecutionResult, JobHandle, Jobs, RunStatus
    from service.settings.config import JobSettings, Settings, config_path, load_settings

_ERRORS = (
    "SidecarError",
    "ConfigError",
    "RunFailed",
    "WaitTimeout",
    "ClientError",
    "InvalidRequest",
    "InvalidParams",
    "Unauthenticated",
    "MissingUserToken",
    "UserTokenRefused",
    "Forbidden",
    "UnknownJob",
    "JobNotConfigured",
    "RunNotFound",
    "CrossOrigin",
    "RequestTimeout",
    "PayloadTooLarge",
    "HeadersTooLarge",
    "RouteRefused",
    "IdempotencyKeyReused",
    "RateLimited",
    "Unavailable",
    "UpstreamError",
    "UpstreamNotFound",
    "UpstreamRejected",
    "UpstreamAuthFailed",
    "UpstreamThrottled",
    "UpstreamUnavailable",
    "UpstreamInvalid",
    "UpstreamTooLarge",
    "UpstreamTimeout",
    "OutcomeUnknown",
    "CannotListen",
    "JobNotFound",
    "MisdirectedHost",
    "RunNotFinished",
    "NothingToRepair",
)
# Each public name -> the module that defines it.
_HOMES: dict[str, str] = {
    "Jobs": "service.python_api",
    "JobHandle": "service.python_api",
    "ExecutionResult": "service.python_api",
    "ExecutionError": "service.python_api",
    "RunStatus": "service.python_api",
    "load_settings": "service.settings.config",
    "config_path": "service.settings.config",
    "Settings": "service.settings.config",
    "JobSettings": "service.settings.config",
    "create_app": "service.app",
    "mountable": "service.mount",
    "Mountable": "service.mount",
    **dict.fromkeys(_ERRORS, "service.basics.errors"),
}

__all__ = [
    "CannotListen",
    "ClientError",
    "ConfigError",
    "CrossOrigin",
    "ExecutionError",
    "ExecutionResult",
    "Forbidden",
    "HeadersTooLarge",
    "IdempotencyKeyReused",
    "InvalidParams",
    "InvalidRequest",
    "JobHandle",
    "JobNotConfigured",
    "JobNotFound",
    "JobSettings",
    "Jobs",
    "MisdirectedHost",
    "MissingUserToken",
    "Mountable",
    "NothingToRepair",
    "OutcomeUnknown",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "RouteRefused",
    "RunFailed",
    "RunNotFinished",
    "RunNotFound",
    "RunStatus",
    "Settings",
    "SidecarError",
    "Unauthenticated",
    "Unavailable",
    "UnknownJob",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamInvalid",
    "UpstreamNotFound",
    "UpstreamRejected",
    "UpstreamThrottled",
    "UpstreamTimeout",
    "UpstreamTooLarge",
    "UpstreamUnavailable",
    "UserTokenRefused",
    "WaitTimeout",
    "config_path",
    "create_app",
    "load_settings",
    "mountable",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (and kept here after)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'service' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
