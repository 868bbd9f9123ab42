"""The HTTP routes: thin handlers over `JobOperations`, the poller hub and event streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, NamedTuple

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from service.basics.callers import caller_of
from service.basics.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    Unavailable,
)
from service.basics.ids import positive_int64
from service.basics.root_path import mounted
from service.front_door.audited import audited
from service.front_door.permissions import admit, may_run, may_view
from service.front_door.user_token import user_token
from service.jobs.details import JobDetails, describe
from service.jobs.operations import LIMIT_RULE, MultiTaskOutput
from service.params.run_body import run_params
from service.params.schemas import params_json_schema
from service.runs.events import json_frame, waiting
from service.runs.follow import Following
from service.runs.streams import EventStream
from service.runtime import Services
from service.settings.config import JobSettings
from service.upstream.auth import Identity
from service.upstream.wire import JobReply, Run, RunOutput, schema_of
from service.web.api_documents import ApiDocuments
from service.web.replies import (
    RUN_STREAM_EVENTS,
    STREAM_EVENTS,
    STREAM_TEXT,
    JobInfo,
    JobsReply,
    Probe,
    RunsReply,
    RunStarted,
    StatusReply,
    StreamStarted,
)
from service.web.route_doc import (
    JOB_ERRORS,
    JOB_ID_ERRORS,
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

DEFAULT_LIST_LIMIT = 20
_encoder = msgspec.json.Encoder()


_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def services(request: Request) -> Services:
    """The one typed accessor for what the lifespan opened."""
    return request.scope["state"]["services"]  # type: ignore[no-any-return]


def json_response(payload: object, status: int = 200) -> Response:
    return Response(_encoder.encode(payload), status_code=status, media_type="application/json")


async def identity_for(svc: Services, job: JobSettings, request: Request) -> Identity:
    """The service principal, or the caller when the job is configured `run_as = "user"`."""
    if job.run_as == "user":
        return await svc.users.identify(user_token(request.scope))
    return svc.service_principal


class JobCall(NamedTuple):
    """Which job, and who acts on it: what every job route resolves before it acts."""

    svc: Services
    job: JobSettings
    identity: Identity


async def job_call(request: Request, *, trigger: bool = False) -> JobCall:
    """The job (404 when unknown or not the caller's to view; 403 for a write not theirs to
    make), counted against the caller's limits (`trigger`: a run-now too), and who acts on it
    (401 without a needed user token)."""
    svc = services(request)
    admit(svc.settings.jobs, request.path_params["job_key"], caller_of(request), request.method)
    job = svc.ops.job(request.path_params["job_key"])
    await svc.limits.admit(request, job.key, trigger=trigger)
    return JobCall(svc, job, await identity_for(svc, job, request))


async def run_call(request: Request, *, trigger: bool = False) -> tuple[JobCall, int]:
    """`job_call` for a route about one run (`trigger`: one that starts work, a repair or a
    rerun); a malformed run id is a 400 before anyone is asked."""
    svc = services(request)
    admit(svc.settings.jobs, request.path_params["job_key"], caller_of(request), request.method)
    job = svc.ops.job(request.path_params["job_key"])
    await svc.limits.admit(request, job.key, trigger=trigger)
    run_id = parse_run_id(request.path_params["run_id"])
    return JobCall(svc, job, await identity_for(svc, job, request)), run_id


def refuse_when_draining(svc: Services) -> None:
    if svc.draining.is_set():
        raise Unavailable("The service is shutting down", retry_after=1)


def parse_run_id(raw: str) -> int:
    """Digits only, positive, int64: `123abc`, `1.5`, `0` and `-3` are 400s."""
    run_id = positive_int64(raw)
    if run_id is None:
        raise InvalidRequest("Invalid runId: expected a positive integer")
    return run_id


def parse_limit(raw: str | None) -> int:
    """Digits only (the range is checked by `list_runs`); absent means 20."""
    if raw is None:
        return DEFAULT_LIST_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3:  # no 4,300-digit int() for us
        raise InvalidRequest(LIMIT_RULE)
    return int(raw)


def limit_query(about: str) -> Query:
    """The API document's `limit` parameter, as `parse_limit` reads it."""
    schema = {"type": "integer", "minimum": 1, "maximum": 100, "default": DEFAULT_LIST_LIMIT}
    return Query("limit", schema, about)


def parse_flag(name: str, raw: str | None) -> bool:
    """`true`/`1` or `false`/`0`; absent is false, anything else a 400."""
    if raw is None:
        return False
    flag = _FLAGS.get(raw)
    if flag is None:
        raise InvalidRequest(f"{name} must be true or false (or 1 or 0)")
    return flag


def event_stream(svc: Services, following: Following, *, prelude: bytes = b"") -> EventStream:
    """A watcher's stream of one run, until its end."""
    return EventStream(
        following,
        gauge=svc.gauge,
        heartbeat_s=svc.settings.heartbeat_ms / 1000,
        prelude=prelude,
    )


@documented(
    RouteDoc(
        "The configured jobs",
        (Reply(200, "The jobs", JobsReply),),
        errors(InvalidRequest),
        query=(
            Query(
                "describe",
                {"type": "boolean", "default": False},
                "true: each job's name, description and task keys too, from jobs/get (cached); "
                "left out for a job whose definition cannot be read now",
            ),
        ),
        job=True,
    ),
)
async def list_jobs(request: Request) -> Response:
    """The jobs the caller may view, each saying whether they may run it."""
    svc, who = services(request), caller_of(request)
    await svc.limits.admit(request)
    jobs = [job for job in svc.settings.jobs.values() if may_view(job.access, who)]
    details: dict[str, JobDetails] = {}
    if parse_flag("describe", request.query_params.get("describe")):
        details = await describe(svc.ops, jobs, lambda job: identity_for(svc, job, request))
    infos = []
    for job in jobs:
        info = JobInfo(
            key=job.key,
            taskType=job.task_type,
            configured=job.job_id is not None,
            runAs=job.run_as,
            canRun=may_run(job.access, who),
            params=params_json_schema(job.params, task_type=job.task_type),
        )
        if job.key in details:
            info = msgspec.structs.replace(info, **msgspec.structs.asdict(details[job.key]))
        infos.append(info)
    return json_response(JobsReply(jobs=infos))


@documented(
    RouteDoc(
        "The job's definition, as Databricks has it",
        (Reply(200, "The job (jobs/get)", Annotated[msgspec.Raw, schema_of(JobReply)]),),
        (*JOB_ERRORS, *JOB_ID_ERRORS, *UPSTREAM_ERRORS),
        job=True,
    )
)
async def get_job(request: Request) -> Response:
    svc, job, identity = await job_call(request)
    return json_response(await svc.ops.get_job(job, identity))


@documented(
    RouteDoc(
        "Start a run of the job with its parameters; once per Idempotency-Key and parameters",
        (
            Reply(200, "The run started (a stream of its events with stream=true)", RunStarted),
            Reply(
                200,
                STREAM_TEXT,
                media_type="text/event-stream",
                events=RUN_STREAM_EVENTS,
            ),
        ),
        (
            *JOB_ERRORS,
            *JOB_ID_ERRORS,
            *errors(InvalidRequest, IdempotencyKeyReused, Unavailable),
            *WRITE_ERRORS,
            *UPSTREAM_ERRORS,
            *OUTCOME_UNKNOWN,
        ),
        query=(
            Query(
                "stream",
                {"type": "boolean", "default": False},
                "true: answer with the run's events until it ends (run and wait), not its id",
            ),
        ),
        headers=("Idempotency-Key",),
        job=True,
        per_job=True,
    )
)
@audited("trigger")
async def run_job(request: Request) -> Response | ASGIApp:
    svc, job, identity = await job_call(request, trigger=True)
    stream = parse_flag("stream", request.query_params.get("stream"))
    refuse_when_draining(svc)

    async def start() -> int:
        fields = svc.ops.prepare_run(job, run_params(await request.body()))
        return await start_run(svc, job, identity, fields, request)

    return await run_started(request, svc, job, identity, start, stream=stream, reply=RunStarted)


async def start_run(
    svc: Services, job: JobSettings, identity: Identity, fields: dict[str, object], request: Request
) -> int:
    """run-now with `fields`, once per the request's Idempotency-Key."""
    return await svc.ops.run_now(
        job,
        identity,
        fields,
        idempotency_key=request.headers.get("idempotency-key"),
        caller=caller_of(request),
        # Counted against `trigger` only now, as run-now is about to be sent: a 400 does not.
        admit=partial(svc.limits.admit_trigger, request, job.key),
    )


async def run_started(
    request: Request,
    svc: Services,
    job: JobSettings,
    identity: Identity,
    start: Callable[[], Awaitable[int]],
    *,
    stream: bool,
    reply: Callable[[int], msgspec.Struct],
) -> Response | ASGIApp:
    """The answer to a request that starts a run: `reply(run_id)` as JSON, or with `stream` the
    run's events until it ends (run-and-wait), after an `event: run` naming it."""
    if not stream:
        return json_response(reply(await start()))
    with svc.caller_streams.admit(request) as place, svc.gauge.admit():
        run_id = await start()
        if svc.hub.closed:
            # Shutting down since the trigger: the run exists, so say which it is, not 503.
            return json_response(reply(run_id))
        # Run-and-wait is bounded by the job's wait timeout, as AppKit's is; a watch is not.
        following = await svc.follow_new_run(job, identity, run_id)
        started = StreamStarted(runId=run_id, watchUrl=watch_url(request, job, run_id))
        prelude = json_frame(started, event="run", event_id=following.start_id)
        return place.hold(event_stream(svc, following, prelude=prelude))


def watch_url(request: Request, job: JobSettings, run_id: int) -> str:
    """Where a client watches the run again (below the mount point, when mounted)."""
    path = request.app.url_path_for("watch_run", job_key=job.key, run_id=str(run_id))
    return mounted(request.scope, str(path))


@documented(
    RouteDoc(
        "Follow a run: its events until it ends; resumes after Last-Event-ID",
        (
            Reply(200, STREAM_TEXT, media_type="text/event-stream", events=STREAM_EVENTS),
            Reply(204, "The client already has the run's last event: stop reconnecting"),
        ),
        (*RUN_ERRORS, *errors(Unavailable)),
        query=(
            Query(
                "lastEventId",
                {"type": "string"},
                "As the Last-Event-ID header, for clients that cannot set it",
            ),
        ),
        headers=("Last-Event-ID",),
        job=True,
    )
)
async def watch_run(request: Request) -> Response | ASGIApp:
    (svc, job, identity), run_id = await run_call(request)
    refuse_when_draining(svc)
    last_event_id = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    with svc.caller_streams.admit(request) as place, svc.gauge.admit():
        following = await svc.follow_run(job, identity, run_id, last_event_id)
        if following is None:
            # The client has the final event: 204 tells EventSource to stop reconnecting.
            return Response(status_code=204)
        return place.hold(event_stream(svc, following))


@documented(
    RouteDoc(
        "The job's runs, newest first",
        (Reply(200, "The runs", RunsReply),),
        (*JOB_ERRORS, *JOB_ID_ERRORS, *errors(InvalidRequest), *UPSTREAM_ERRORS),
        query=(
            limit_query("How many runs (1-100)"),
            Query(
                "expand_tasks",
                {"type": "boolean", "default": False},
                "true: each run with its `tasks` (runs/list expand_tasks)",
            ),
        ),
        job=True,
    )
)
async def list_runs(request: Request) -> Response:
    svc, job, identity = await job_call(request)
    limit = parse_limit(request.query_params.get("limit"))
    tasks = parse_flag("expand_tasks", request.query_params.get("expand_tasks"))
    runs = await svc.ops.list_runs(job, identity, limit, tasks=tasks)
    return json_response(RunsReply(runs=runs))


@documented(
    RouteDoc(
        "One run of the job, as Databricks sent it",
        (Reply(200, "The run (runs/get)", Annotated[msgspec.Raw, schema_of(Run)]),),
        RUN_ERRORS,
        query=(
            Query(
                "include_history",
                {"type": "boolean", "default": False},
                "true: with its `repair_history` (the original run and each repair), read fresh",
            ),
        ),
        job=True,
    )
)
async def get_run(request: Request) -> Response:
    (svc, job, identity), run_id = await run_call(request)
    if parse_flag("include_history", request.query_params.get("include_history")):
        snapshot = await svc.repairs.read(job, identity, run_id)
    else:
        snapshot = await svc.ops.get_run(job, identity, run_id)
    return Response(bytes(snapshot.raw), media_type="application/json")


@documented(
    RouteDoc(
        "A run's output: its task's (runs/get-output), or each task's for a multi-task run",
        (
            Reply(
                200,
                "The output",
                Annotated[msgspec.Raw, schema_of(RunOutput)] | MultiTaskOutput,
            ),
        ),
        RUN_ERRORS,
        job=True,
    )
)
async def get_run_output(request: Request) -> Response:
    (svc, job, identity), run_id = await run_call(request)
    return json_response(await svc.ops.get_run_output(job, identity, run_id))


@documented(
    RouteDoc(
        "Cancel a run of the job (harmless when it has ended)",
        (Reply(204, "Cancelling"),),
        (*RUN_ERRORS, *WRITE_ERRORS),
        job=True,
    )
)
@audited("cancel")
async def cancel_run(request: Request) -> Response:
    (svc, job, identity), run_id = await run_call(request)
    await svc.ops.cancel_run(job, identity, run_id)
    return Response(status_code=204)


@documented(
    RouteDoc(
        "The job's latest run, with its state and result",
        (Reply(200, "The latest run; all null when the job has none", StatusReply),),
        (*JOB_ERRORS, *JOB_ID_ERRORS, *UPSTREAM_ERRORS),
        job=True,
    )
)
async def status(request: Request) -> Response:
    svc, job, identity = await job_call(request)
    latest = await svc.ops.last_run(job, identity)
    if latest is None:
        return json_response(StatusReply(status=None, result=None, run=None))
    run = latest.run
    reply = StatusReply(
        status=run.life_cycle_state, result=run.result, run=latest.raw, queue=waiting(run)
    )
    return json_response(reply)


@documented(RouteDoc("Liveness: the process answers", (Reply(200, "Alive", Probe),)))
async def livez(_request: Request) -> Response:
    return json_response({"status": "ok"})


@documented(
    RouteDoc(
        "Readiness: 503 once the service is stopping",
        (Reply(200, "Ready", Probe), Reply(503, "Draining: send no more", Probe)),
    )
)
async def readyz(request: Request) -> Response:
    svc = services(request)
    if svc.stopping.is_set() or svc.draining.is_set():
        return json_response({"status": "draining"}, status=503)
    if svc.link is not None:
        # Still ready without Redis, or with it degraded: the replica serves locally where
        # Redis fails it (see service/scale_out/redis_link.py, service/scale_out/redis_health.py).
        return json_response({"status": "ready", "redis": svc.link.state})
    return json_response({"status": "ready"})


METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus's text format


@documented(
    RouteDoc(
        "Prometheus metrics",
        (Reply(200, "The text exposition format", str, media_type=METRICS_TYPE),),
    )
)
async def metrics(request: Request) -> Response:
    # prometheus-client, and the http.server, wsgiref and mmap it imports, come in at the first
    # scrape rather than at start: ~1 MB of RSS that a sidecar nobody scrapes never needs.
    from service.web import metrics as prometheus  # noqa: PLC0415

    body = prometheus.render(prometheus.registry_for(services(request)))
    return Response(body, media_type=METRICS_TYPE)


def api_document(documents: ApiDocuments) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of the API document, each view's built once in `documents` (this app's)."""

    async def openapi_json(request: Request) -> Response:
        """The API document for this service's routes and the jobs the caller may view; a read
        like any other (the `read` rate)."""
        svc, who = services(request), caller_of(request)
        await svc.limits.admit(request)
        jobs = {k: j for k, j in svc.settings.jobs.items() if may_view(j.access, who)}
        server = mounted(request.scope, "") if request.scope.get("root_path") else ""
        body = documents.encoded(request.app.routes, jobs, server=server)
        return Response(body, media_type="application/json")

    return openapi_json
