"""The audit line: one `audit` log line (logger `service.audit`) per write: trigger, cancel,
repair, rerun and cancel_all.

Written once per write whatever its outcome, when the write is over (`record`'s block ends,
even by an exception), with: `action` (trigger | cancel | repair | rerun | cancel_all), `via`
(http | python), `caller`,
`job_key`, `run_id` (when known), `outcome`, `status`, `code` (an error's), `request_id`, and
`params_digest` / `idempotency_key_digest`: the first 16 hex digits of the SHA-256 of the
parameters' canonical JSON (sorted keys) and of the key, never their values (parameters may be
sensitive). Outcomes:

    started    a run was started (trigger, rerun), or a repair (repair) (200)
    reused     the Idempotency-Key's run (or repair), from memory: nothing was sent (200)
    cancelled  cancel (or cancel_all) was accepted (204)
    refused    our refusal: 400, 401, 403, 404, 409, 422, 429, 503 shutting down
    failed     Databricks failed or refused the call (UPSTREAM_*, 4xx/5xx mapped)
    unknown    run-now was sent and its answer lost (OUTCOME_UNKNOWN): the run may exist
    error      a bug (500)

A write refused before its route runs (401 without a caller, 403 `CROSS_ORIGIN`, a body declared
over the limit: 413) has its line too, from `service.front_door.audited.AuditWrites`, which watches
every request to an `@audited` route and writes the line its endpoint did not: `caller` is null when
no caller was found yet, `params_digest` null (the body was never read).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal

import msgspec

from service.basics import logs
from service.basics.echo import echo
from service.basics.errors import OutcomeUnknown, SidecarError, UpstreamError

Action = Literal["trigger", "cancel", "repair", "rerun", "cancel_all"]
_CANCELS = frozenset({"cancel", "cancel_all"})
_canonical = msgspec.json.Encoder(order="sorted")
_log = logs.library_logger("service.audit")
# The write being served, so the trigger path can say what it did (reused) without a return.
_current: ContextVar[Entry | None] = ContextVar("audit_entry", default=None)


def digest(value: object) -> str:
    """The first 16 hex digits of the SHA-256 of `value`'s canonical JSON (a str: its UTF-8)."""
    data = value.encode() if isinstance(value, str) else _canonical.encode(value)
    return hashlib.sha256(data).hexdigest()[:16]


class Entry:
    """What one write did, filled in as it goes."""

    __slots__ = ("action", "caller", "job_key", "key_digest", "params_digest", "reused", "run_id")

    def __init__(self, action: Action, caller: str | None, job_key: str) -> None:
        self.action = action
        self.caller = caller
        self.job_key = job_key
        self.run_id: int | None = None
        self.reused = False
        self.params_digest: str | None = None
        self.key_digest: str | None = None

    def params(self, params: object) -> None:
        self.params_digest = digest(params)

    def idempotency_key(self, key: str | None) -> None:
        self.key_digest = digest(key) if key is not None else None


def note_params(params: object) -> None:
    """The parameters the write was asked with (only their digest is kept)."""
    if (entry := _current.get()) is not None:
        entry.params(params)


def note_run(run_id: int, *, reused: bool = False) -> None:
    """The run the write is about; `reused`: answered from the idempotency memory."""
    if (entry := _current.get()) is not None:
        entry.run_id = run_id
        entry.reused = reused


@contextlib.contextmanager
def record(
    action: Action, *, caller: str, job_key: str, via: str, idempotency_key: str | None = None
) -> Iterator[Entry]:
    """Log the write done in the block: its outcome from the block's end or exception."""
    entry = Entry(action, echo(caller), echo(job_key))
    entry.idempotency_key(idempotency_key)
    context = _current.set(entry)
    outcome, status = "error", 500
    code: str | None = "INTERNAL"
    try:
        yield entry
        status = 204 if action in _CANCELS else 200
        outcome = "cancelled" if action in _CANCELS else "reused" if entry.reused else "started"
        code = None
    except SidecarError as exc:
        outcome, status, code = _failure(exc), exc.status, exc.code
        if exc.idempotency_key is not None:  # handed out with an unknown outcome
            entry.idempotency_key(exc.idempotency_key)
        if exc.run_id is not None:
            entry.run_id = exc.run_id
        raise
    finally:
        _current.reset(context)
        write(entry, via, outcome, status, code)


def write(entry: Entry, via: str, outcome: str, status: int, code: str | None) -> None:
    """The audit line of `entry`, ended with `outcome`."""
    _log.info(
        "audit",
        action=entry.action,
        via=via,
        caller=entry.caller,
        job_key=entry.job_key,
        run_id=entry.run_id,
        outcome=outcome,
        status=status,
        code=code,
        request_id=logs.request_id.get(),
        params_digest=entry.params_digest,
        idempotency_key_digest=entry.key_digest,
    )


def _failure(exc: SidecarError) -> str:
    if isinstance(exc, OutcomeUnknown):
        return "unknown"
    if isinstance(exc, UpstreamError):
        return "failed"
    return "refused"
