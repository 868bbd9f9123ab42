"""The routes that recover from failure: repair a run, run it again, cancel all, runs of all jobs.

Thin handlers like those of `service.web.routes`, whose resolvers (`job_call`, `run_call`) decide
who may do what before anything else; `service.web.route_table.routes()` lists them.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from service.basics.callers import caller_of
from service.basics.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    MissingUserToken,
    NothingToRepair,
    RunNotFinished,
    Unavailable,
    UserTokenRefused,
)
from service.front_door.audited import audited
from service.front_door.permissions import may_view
from service.jobs import audit
from service.jobs.repairs import RepairAsk, repair_ask, repair_fields
from service.jobs.reruns import rerun_fields
from service.params.run_body import run_params
from service.runs.events import json_frame
from service.runs.follow import follow
from service.runtime import Services
from service.settings.config import JobSettings
from service.upstream.auth import Identity
from service.web.replies import (
    REPAIR_STREAM_EVENTS,
    RUN_STREAM_EVENTS,
    STREAM_TEXT,
    AllRunsReply,
    RepairStarted,
    RerunStarted,
)
from service.web.route_doc import (
    JOB_ERRORS,
    OUTCOME_UNKNOWN,
    RUN_ERRORS,
    UPSTREAM_ERRORS,
    WRITE_ERRORS,
    Query,
    Reply,
    RouteDoc,
    documented,
    errors,
)
from service.web.routes import (
    event_stream,
    identity_for,
    job_call,
    json_response,
    limit_query,
    parse_flag,
    parse_limit,
    refuse_when_draining,
    run_call,
    run_started,
    services,
    start_run,
    watch_url,
)

_STREAM = Query(
    "stream",
    {"type": "boolean", "default": False},
    "true: answer with the run's events until it ends, not with its id",
)
# The repair body besides `params` (which the API document types by each job's schema).
REPAIR_BODY = {
    "tasks": {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 100},
        "minItems": 1,
        "maxItems": 100,
        "uniqueItems": True,
        "description": "The tasks to run again (absent: every failed task, and those it stopped)",
    },
    "rerunDependents": {
        "type": "boolean",
        "default": False,
        "description": "Run every task that depends on those again too",
    },
}


@documented(
    RouteDoc(
        "Repair a finished run: run its failed tasks (or those named) again, in the same run",
        (
            Reply(
                200,
                "The repair made (a stream of the run's events with stream=true)",
                RepairStarted,
            ),
            Reply(200, STREAM_TEXT, media_type="text/event-stream", events=REPAIR_STREAM_EVENTS),
        ),
        (
            *RUN_ERRORS,
            *errors(RunNotFinished, NothingToRepair, IdempotencyKeyReused, Unavailable),
            *WRITE_ERRORS,
            *OUTCOME_UNKNOWN,
        ),
        query=(_STREAM,),
        headers=("Idempotency-Key",),
        job=True,
        per_job=True,
        body=REPAIR_BODY,
    )
)
@audited("repair")
async def repair_run(request: Request) -> Response | ASGIApp:
    (svc, job, identity), run_id = await run_call(request, trigger=True)
    stream = parse_flag("stream", request.query_params.get("stream"))
    refuse_when_draining(svc)
    fields = _repair_fields(svc, job, repair_ask(await request.body()))
    key = request.headers.get("idempotency-key")
    who = caller_of(request)
    # Counted against `trigger` only as runs/repair is about to be sent: a 400 or 409 is not.
    limit = partial(svc.limits.admit_trigger, request, job.key)
    if not stream:
        repair_id = await svc.repairs.repair(
            job, identity, run_id, fields, key, caller=who, admit=limit
        )
        return json_response(RepairStarted(run_id, repair_id, watch_url(request, job, run_id)))
    with svc.caller_streams.admit(request) as place, svc.gauge.admit():
        repair_id = await svc.repairs.repair(
            job, identity, run_id, fields, key, caller=who, admit=limit
        )
        started = RepairStarted(run_id, repair_id, watch_url(request, job, run_id))
        if svc.hub.closed:
            return json_response(started)
        # The run's watch, reopened by the fresh read if it had ended: it follows the repair,
        # its event ids going on from the run's final event.
        following = await follow(
            job,
            identity,
            run_id,
            hub=svc.hub,
            ops=svc.ops,
            clock=svc.clock,
            wait_timeout_ms=job.wait_timeout_ms,
        )
        if following is None:  # pragma: no cover - only a resume can have seen everything
            return json_response(started)
        prelude = json_frame(started, event="repair")
        return place.hold(event_stream(svc, following, prelude=prelude))


def _repair_fields(svc: Services, job: JobSettings, ask: RepairAsk) -> dict[str, object]:
    """The repair's run-now-like fields: its params validated and mapped as a trigger's."""
    raw = bytes(ask.params)
    params = run_params(b'{"params":' + raw + b"}") if raw else None
    return repair_fields(ask, svc.ops.prepare_run(job, params) if params is not None else {})


@documented(
    RouteDoc(
        "Run a run again: a new run with the parameters that run had",
        (
            Reply(200, "The run started (a stream of its events with stream=true)", RerunStarted),
            Reply(200, STREAM_TEXT, media_type="text/event-stream", events=RUN_STREAM_EVENTS),
        ),
        (
            *RUN_ERRORS,
            *errors(IdempotencyKeyReused, Unavailable),
            *WRITE_ERRORS,
            *OUTCOME_UNKNOWN,
        ),
        query=(_STREAM,),
        headers=("Idempotency-Key",),
        job=True,
    )
)
@audited("rerun")
async def rerun_run(request: Request) -> Response | ASGIApp:
    (svc, job, identity), run_id = await run_call(request, trigger=True)
    stream = parse_flag("stream", request.query_params.get("stream"))
    refuse_when_draining(svc)
    fields = rerun_fields(await svc.ops.get_run(job, identity, run_id))
    audit.note_params(fields)

    def reply(new_run: int) -> RerunStarted:
        return RerunStarted(new_run, watch_url(request, job, new_run))

    return await run_started(
        request,
        svc,
        job,
        identity,
        partial(start_run, svc, job, identity, fields, request),
        stream=stream,
        reply=reply,
    )


@documented(
    RouteDoc(
        "Cancel every active run of the job (runs/cancel-all)",
        (Reply(204, "Cancelling"),),
        (*JOB_ERRORS, *WRITE_ERRORS, *UPSTREAM_ERRORS),
        job=True,
    )
)
@audited("cancel_all")
async def cancel_all_runs(request: Request) -> Response:
    svc, job, identity = await job_call(request)
    await svc.ops.cancel_all(job, identity)
    return Response(status_code=204)


@documented(
    RouteDoc(
        "The runs of every job the caller may view, newest first",
        (Reply(200, "The runs, each with its job's key", AllRunsReply),),
        (*errors(InvalidRequest, UserTokenRefused), *UPSTREAM_ERRORS),
        query=(
            limit_query("How many runs (1-100); each job gives at most its 25 newest"),
            Query(
                "active",
                {"type": "boolean", "default": False},
                "true: only runs that have not ended (queued, pending, running, ...)",
            ),
        ),
        job=True,
    )
)
async def list_all_runs(request: Request) -> Response:
    svc, who = services(request), caller_of(request)
    await svc.limits.admit(request)
    limit = parse_limit(request.query_params.get("limit"))
    active = parse_flag("active", request.query_params.get("active"))
    jobs: list[tuple[JobSettings, Identity]] = []
    for job in svc.settings.jobs.values():
        if job.job_id is None or not may_view(job.access, who):
            continue
        try:
            jobs.append((job, await identity_for(svc, job, request)))
        except MissingUserToken:
            continue  # a job run as its user, asked without a user's token: not this caller's
    runs = await svc.all_runs.runs(jobs, limit, active=active)
    return json_response(AllRunsReply(runs=tuple(runs)))
