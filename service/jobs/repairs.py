"""Repairing a finished run once per key: the latest repair found here, lost answers resolved.

The Jobs API has no idempotency token for runs/repair, but it refuses a repair that does not
name the run's latest repair (`latest_repair_id`): so the service reads the run's history,
sends the repair with the latest repair it saw (the *base*), and one repair at most can follow
any base. A key remembers its request's digest and its base; a retry of the key:

    repair id remembered              → that repair (nothing sent)
    same base as now                  → nothing happened since: checked and sent as new
    another base (a repair since)     → sent again with the first base: if that repair went
                                        through, this one is refused as stale, and the repair
                                        right after the base, in the run's history, is the answer

A repair whose answer was lost (OUTCOME_UNKNOWN from the client) is resolved the same way at
once: the repair after the base, if the history has one; else the caller gets the key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec

from service.basics.callers import Caller
from service.basics.echo import echo
from service.basics.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    NothingToRepair,
    OutcomeUnknown,
    RunNotFinished,
    SidecarError,
    UpstreamNotFound,
    UpstreamRejected,
    run_not_found,
)
from service.cache.read_cache import ReadCache
from service.jobs import audit
from service.jobs.key_memory import KeyMemory
from service.jobs.triggers import checked_key, new_key
from service.settings.config import JobSettings
from service.upstream.auth import Identity
from service.upstream.client import JobsClient
from service.upstream.retry import SAFE_WRITE
from service.upstream.wire import Run, RunSnapshot

TaskKey = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
# What a repair of "every failed task" runs again: the failures and what they stopped.
_UNSUCCESSFUL = frozenset(
    {"FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED", "UPSTREAM_CANCELED"}
)
# A repair changes the run and the job's latest runs: read afresh after one, on every replica.
_INVALIDATES = frozenset({"get_run", "list_runs", "last_run"})
_canonical = msgspec.json.Encoder(order="sorted")


class RepairAsk(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A repair request's body: `{}` reruns every failed task; `tasks` names them instead."""

    tasks: Annotated[list[TaskKey], msgspec.Meta(min_length=1, max_length=100)] | None = None
    rerunDependents: bool = False  # noqa: N815 - the wire name
    # Kept as sent (empty when absent): decoded and validated as a trigger's `params` are.
    params: msgspec.Raw = msgspec.Raw()


_ask_decoder = msgspec.json.Decoder(RepairAsk)


def repair_ask(body: bytes) -> RepairAsk:
    """The body of a repair request; an empty body is `{}`; anything else misfit is a 400."""
    try:
        ask = _ask_decoder.decode(body.strip() or b"{}")
    except msgspec.ValidationError as exc:
        raise InvalidRequest(_misfit(str(exc))) from None
    except msgspec.DecodeError:
        raise InvalidRequest("Request body must be a JSON object") from None
    except RecursionError:
        raise InvalidRequest("Request body is nested too deeply") from None
    if ask.tasks is not None and len(set(ask.tasks)) < len(ask.tasks):
        raise InvalidRequest("tasks must not name a task twice")
    return ask


# What each field must be, for people (msgspec's own words name the JSON path and type).
_MUST_BE = {
    "tasks": "tasks must be a list of 1 to 100 task keys (text), or left out to repair every "
    "failed task",
    "rerunDependents": "rerunDependents must be true or false",
}  # `params` is a trigger's, validated as a trigger's is (service/params/run_body.py)
_UNKNOWN = re.compile(r"Object contains unknown field `(.{0,100})`")


def _misfit(said: str) -> str:
    """A misfit body's 400 message: what the field must be, or which field is not one."""
    unknown = _UNKNOWN.match(said)
    if unknown is not None:
        return (
            f"{echo(unknown.group(1))} is not a repair field: a repair takes tasks, "
            "rerunDependents and params"
        )
    for field, must_be in _MUST_BE.items():
        if f"`$.{field}`" in said or f"`$.{field}[" in said:
            return must_be
    return "Request body must be a JSON object"


def repair_fields(ask: RepairAsk, params: dict[str, Any]) -> dict[str, Any]:
    """The runs/repair fields for a request (without run_id and latest_repair_id)."""
    chosen: dict[str, Any] = (
        {"rerun_all_failed_tasks": True} if ask.tasks is None else {"rerun_tasks": ask.tasks}
    )
    if ask.rerunDependents:
        chosen["rerun_dependent_tasks"] = True
    return {**chosen, **params}


def repair_scope(job_key: str, identity: Identity, caller: Caller, key: str) -> str:
    """A repair key as the memory knows it: apart from trigger keys, per job, identity, caller."""
    scoped = f"repair\x1f{job_key}\x1f{identity.key}\x1f{caller.name}\x1f{key}"
    return hashlib.sha256(scoped.encode()).hexdigest()


def repair_after(run: Run, base: int | None) -> int | None:
    """The repair made on top of `base` (None: on the original run), if the history has one."""
    repairs = [item.id for item in run.repair_history if item.type == "REPAIR" and item.id]
    if base is None:
        return repairs[0] if repairs else None
    following = repairs[repairs.index(base) + 1 :] if base in repairs else []
    return following[0] if following else None


def has_failures(run: Run) -> bool:
    if not run.tasks:
        return run.result != "SUCCESS"
    for task in run.tasks:
        state = task.state
        if state is not None and (
            state.result_state in _UNSUCCESSFUL or state.life_cycle_state == "INTERNAL_ERROR"
        ):
            return True
    return False


class Repairs:
    """runs/repair with a key for every repair and one repair per key, as `Triggers` for runs."""

    def __init__(self, client: JobsClient, memory: KeyMemory, cache: ReadCache) -> None:
        self._client = client
        self._memory = memory
        self._cache = cache

    async def repair(
        self,
        job: JobSettings,
        identity: Identity,
        run_id: int,
        fields: dict[str, Any],
        key: str | None,
        *,
        caller: Caller,
        admit: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Repair the run once per key and request; the repair's id. Reads are fresh after.
        `admit` is called once runs/repair is about to be sent (the HTTP caller's trigger
        limit), never for a key whose repair is remembered or a repair refused here."""
        try:
            return await self._repair(
                job, identity, run_id, fields, key, caller=caller, admit=admit
            )
        finally:
            await self._cache.invalidate(job.key, _INVALIDATES)

    async def _repair(
        self,
        job: JobSettings,
        identity: Identity,
        run_id: int,
        fields: dict[str, Any],
        key: str | None,
        *,
        caller: Caller,
        admit: Callable[[], Awaitable[None]] | None,
    ) -> int:
        generated = key is None
        key = new_key() if key is None else checked_key(key)
        audit.note_run(run_id)
        digest = hashlib.sha256(
            _canonical.encode([job.key, identity.key, run_id, fields])
        ).hexdigest()
        scope = repair_scope(job.key, identity, caller, key)
        run = (await self.read(job, identity, run_id)).run
        base = run.latest_repair_id
        first_base = base
        if not generated:
            use = await self._memory.reserve(scope, f"{digest}:{base or 0}")
            asked, _, standing = use.digest.partition(":")
            if asked != digest:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with another repair; use a new key"
                )
            if use.run_id is not None:
                audit.note_run(run_id, reused=True)
                return use.run_id
            first_base = int(standing or 0) or None
        stored = f"{digest}:{first_base or 0}"
        if first_base == base:
            self._check(run, run_id, fields)
        if admit is not None:
            await admit()
        body = {"run_id": run_id, **fields}
        if first_base is not None:
            body["latest_repair_id"] = first_base
        try:
            repair_id = await self._client.repair_run(identity, body, tier=SAFE_WRITE)
        except OutcomeUnknown as exc:
            made = await self._made_on(job, identity, run_id, first_base)
            if made is None:
                if generated:
                    await self._memory.reserve(scope, stored)
                exc.idempotency_key = key
                raise
            repair_id = made
        except UpstreamRejected as exc:
            repair_id = await self._refused(
                job, identity, run_id, exc, base=first_base, retry=first_base != base
            )
        await self._memory.remember(scope, stored, repair_id)
        return repair_id

    async def read(self, job: JobSettings, identity: Identity, run_id: int) -> RunSnapshot:
        """The run with its history, fresh: another job's run is missing, as everywhere."""
        try:
            snapshot = await self._client.get_run(identity, run_id, include_history=True)
        except UpstreamNotFound:
            raise run_not_found(run_id) from None
        if snapshot.run.job_id != job.job_id:
            raise run_not_found(run_id)
        return snapshot

    def _check(self, run: Run, run_id: int, fields: dict[str, Any]) -> None:
        if not run.is_terminal:
            raise RunNotFinished(f"Run {run_id} has not finished: repair it once it has")
        if "rerun_tasks" in fields:
            known = {task.task_key for task in run.tasks}
            unknown = [name for name in fields["rerun_tasks"] if name not in known]
            if unknown:
                raise InvalidRequest(f'Run {run_id} has no task "{echo(unknown[0], 100)}"')
        elif not has_failures(run):
            raise NothingToRepair(f"Run {run_id} has no failed task to repair")

    async def _made_on(
        self, job: JobSettings, identity: Identity, run_id: int, base: int | None
    ) -> int | None:
        """The repair made on top of `base`, read from the run's history now."""
        try:
            run = (await self.read(job, identity, run_id)).run
        except SidecarError:  # unreadable now: the outcome stays unknown
            return None
        return repair_after(run, base)

    async def _refused(
        self,
        job: JobSettings,
        identity: Identity,
        run_id: int,
        refusal: UpstreamRejected,
        *,
        base: int | None,
        retry: bool,
    ) -> int:
        """A refused repair: a retry's own repair made since (refused as stale), or the reason."""
        run = (await self.read(job, identity, run_id)).run
        made = repair_after(run, base) if retry else None
        if made is not None:
            return made
        if not run.is_terminal:
            raise RunNotFinished(f"Run {run_id} has not finished: repair it once it has")
        raise refusal
