"""The remote commands' exit codes, and each error as the one line that says what to do."""

from __future__ import annotations

from service.client.errors import (
    BadRequest,
    JobsError,
    OutcomeUnknown,
    Refused,
    Unauthenticated,
    Unreachable,
    WatchFailed,
)

SUCCEEDED = 0
FAILED = 1  # the run failed, was canceled, timed out or was skipped
REFUSED = 2  # a usage error, or the service refused the request (4xx)
UNREACHABLE = 3  # no answer, a 5xx, or the outcome is unknown: retry with the key printed
INTERRUPTED = 130  # Ctrl-C: the command stopped; the run goes on

EXIT_CODES = """exit codes:
  0  done; for a run followed (--watch, watch, status): it succeeded (or still runs, for status)
  1  the run failed, was canceled, timed out or was skipped
  2  a usage error, or the service refused the request (4xx)
  3  the service could not be reached or failed (5xx), or the outcome is unknown: the line
     printed says which --idempotency-key gets the run (or repair) without making another
environment:
  SIDECAR_URL      the service (default http://127.0.0.1:8000); --url overrides it
  SIDECAR_API_KEY  its API key, in token mode (never a flag: flags show in `ps`)
"""


class UsageError(Exception):
    """A command line that cannot be sent: the message names the option or setting."""


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def explain(error: JobsError, *, url: str, api_key_set: bool) -> tuple[int, str]:
    """The exit code and the one line of `error: ...` for a failed call."""
    key = error.idempotency_key
    line = f"{error.status} {error.code}: {error.message}"
    if isinstance(error, Unreachable):
        line = f"cannot reach the service at {url} (--url or SIDECAR_URL): {error.message}"
        line += "; nothing was done" if key is not None else ""
    elif isinstance(error, OutcomeUnknown) and key is not None:
        line = (
            f"the outcome is unknown ({error.message}): it may have been done. Run the same "
            f"command with --idempotency-key {key} to get it, never twice"
        )
    elif isinstance(error, WatchFailed):
        line = f"following the run failed: {error.code}: {error.message}"
    elif isinstance(error, BadRequest) and error.fields:
        line = "; ".join(f"parameter {f.field}: {f.message}" for f in error.fields)
    elif isinstance(error, Unauthenticated):
        line += " (SIDECAR_API_KEY was not accepted)" if api_key_set else " (set SIDECAR_API_KEY)"
    elif key is not None and not isinstance(error, Refused):
        line += f"; retry with --idempotency-key {key}"  # a 5xx that surely did nothing
    return (REFUSED if isinstance(error, Refused) else UNREACHABLE), line
