"""Starting a run exactly once: idempotency keys, their tokens, lost answers and shutdown.

Every trigger has a key: the client's `Idempotency-Key`, or one made here. The key, scoped by
job, identity and caller (so two callers' keys never meet, even when one identity acts for
both), and the digest of the mapped run-now fields make the run-now token, so the
same key and parameters always send the same token (and the Jobs API answers with the run it
started for it), while the same key with other parameters is refused (422) for as long as the
memory remembers the key. When run-now may have started a run but its answer was lost (or
shutdown cut it short), the caller gets OUTCOME_UNKNOWN and the key to retry with.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from service.basics.callers import Caller
from service.basics.clock import Clock
from service.basics.errors import IdempotencyKeyReused, InvalidRequest, OutcomeUnknown, Unavailable
from service.basics.logs import library_logger
from service.jobs import audit
from service.jobs.key_memory import KeyMemory
from service.settings.config import JobSettings
from service.upstream.auth import Identity
from service.upstream.client import JobsClient
from service.upstream.retry import SAFE_WRITE

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_canonical = msgspec.json.Encoder(order="sorted")
_log = library_logger("service.triggers")


def new_key() -> str:
    return str(uuid.uuid4())


def checked_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidRequest("Idempotency-Key must be 1-255 printable ASCII characters")
    return key


def key_scope(job_key: str, identity: Identity, caller: Caller, key: str) -> str:
    """The key as the memory knows it: per job, identity and caller, hashed."""
    scoped = f"{job_key}\x1f{identity.key}\x1f{caller.name}\x1f{key}"
    return hashlib.sha256(scoped.encode()).hexdigest()


def params_digest(job_key: str, identity: Identity, fields: dict[str, Any]) -> str:
    """What a run would be started with: job, identity and the mapped fields, canonically."""
    return hashlib.sha256(_canonical.encode([job_key, identity.key, fields])).hexdigest()


def run_now_token(scope: str, digest: str) -> str:
    """The Jobs API's idempotency_token: same key and parameters, same token."""
    return "sidecar-" + hashlib.sha256(f"{scope}\x1f{digest}".encode()).hexdigest()[:56]


class Triggers:
    """run-now with a key for every trigger, and an answer for each before shutdown cuts it."""

    def __init__(
        self, client: JobsClient, memory: KeyMemory, clock: Clock, *, grace_s: float
    ) -> None:
        self._client = client
        self._memory = memory
        self._clock = clock
        # Answer in-flight triggers this long after draining starts: before Hypercorn's
        # graceful timeout (grace_s) ends their connections with no answer at all.
        self._answer_by_s = grace_s - min(1.0, grace_s / 5)
        self._in_flight: set[asyncio.Timeout] = set()
        self._cut = False

    async def run_now(
        self,
        job: JobSettings,
        identity: Identity,
        fields: dict[str, Any],
        key: str | None,
        *,
        caller: Caller,
        admit: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """The run started for this key and these fields, or a new one. `admit` is called
        once run-now is about to be sent (the HTTP caller's trigger limit), never for a key
        whose run is remembered or that was used with other parameters."""
        generated = key is None
        key = new_key() if key is None else checked_key(key)
        if self._cut:
            raise Unavailable("The service is shutting down", retry_after=1)
        scope = key_scope(job.key, identity, caller, key)
        digest = params_digest(job.key, identity, fields)
        # A generated key is nobody else's until it is handed out (on an unknown outcome):
        # only then is it remembered, so plain triggers do not crowd clients' keys out.
        if not generated:
            use = await self._memory.reserve(scope, digest)
            if use.digest != digest:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with other parameters; use a new key"
                )
            if use.run_id is not None:
                audit.note_run(use.run_id, reused=True)
                return use.run_id
        if admit is not None:
            await admit()
        token = run_now_token(scope, digest)
        body = {"job_id": job.job_id, **fields, "idempotency_token": token}
        try:
            run_id = await self._before_cut(self._client.run_now(identity, body, tier=SAFE_WRITE))
        except OutcomeUnknown as exc:
            if generated:
                await self._memory.reserve(scope, digest)
            exc.idempotency_key = key
            _log.warning(
                "trigger.outcome_unknown", job=job.key, status=exc.status, idempotency_token=token
            )
            raise
        await self._memory.remember(scope, digest, run_id)
        audit.note_run(run_id)
        return run_id

    async def cut_on_drain(self, draining: asyncio.Event) -> None:
        """Once draining, give in-flight run-nows until just before the grace period ends."""
        await draining.wait()
        await self._clock.sleep(self._answer_by_s)
        self._cut = True
        for deadline in self._in_flight:
            deadline.reschedule(0)  # a time long past: each fires at once

    async def _before_cut(self, call: Awaitable[int]) -> int:
        deadline = asyncio.timeout(None)
        try:
            async with deadline:
                self._in_flight.add(deadline)
                return await call
        except TimeoutError:
            if not deadline.expired():
                raise
            raise OutcomeUnknown(
                "The service is shutting down and Databricks has not answered yet: the run may "
                "have started. Retry with this Idempotency-Key to get it (or start it once)",
                status=503,
                retry_after=1,
            ) from None
        finally:
            self._in_flight.discard(deadline)
