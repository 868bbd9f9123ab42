"""The start-up credential check: one cheap authenticated call; a warning with the reason.

Why only a warning: the workspace may be down for a minute, or the token about to be replaced;
the service starts, stays ready (probes never call Databricks) and says at once what it saw,
rather than leaving the first user request to find out.
"""

from __future__ import annotations

from service.basics.errors import (
    SidecarError,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamNotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.basics.logs import library_logger
from service.runtime import Services
from service.upstream.retry import Tier

# One attempt, a short budget: the check runs beside start-up and never holds it back.
PREFLIGHT = Tier("preflight", timeout_s=5.0, attempts=1)
_log = library_logger("service.preflight")


async def check_credentials(services: Services) -> str | None:
    """List one job as the service principal; log the outcome; the reason it failed, or None."""
    host = services.settings.workspace.host
    try:
        await services.client.list_jobs(services.service_principal, limit=1, tier=PREFLIGHT)
    except SidecarError as exc:
        reason = _reason(exc, services.settings.workspace.auth_type)
    except Exception as exc:  # a best-effort check must never stop the service it checks
        reason = f"the check itself failed ({type(exc).__name__})"
    else:
        _log.info("startup.credentials_ok", host=host)
        return None
    _log.warning("startup.credentials_unverified", host=host, reason=reason)
    return reason


def _reason(exc: SidecarError, auth_type: str) -> str:
    status = exc.upstream_status if isinstance(exc, UpstreamError) else None
    if isinstance(exc, UpstreamAuthFailed):
        names = "DATABRICKS_TOKEN"
        if auth_type == "oauth-m2m":
            names = "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
        return f"Databricks refused the credentials (HTTP {status}): check {names}"
    if isinstance(exc, UpstreamTimeout):
        return f"Databricks did not answer within {PREFLIGHT.timeout_s:g} s"
    if isinstance(exc, UpstreamUnavailable) and status is None:
        return f"Databricks is unreachable at DATABRICKS_HOST ({exc.detail or 'no connection'})"
    if isinstance(exc, UpstreamNotFound):
        return f"DATABRICKS_HOST does not serve the Jobs API (HTTP {status})"
    if status is not None:
        return f"Databricks answered HTTP {status}"
    return exc.message
