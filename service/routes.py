"""The HTTP routes: thin handlers over `JobOperations`, the poller hub and event streams."""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from service.config import JobSettings
from service.errors import InvalidRequest, Unavailable
from service.identity import forwarded_token
from service.ids import positive_int64
from service.metrics import CONTENT_TYPE, registry_for, render
from service.operations import LIMIT_RULE
from service.params import params_json_schema
from service.runs.events import json_frame
from service.runs.follow import Following
from service.runs.streams import EventStream
from service.runtime import Services
from service.upstream.auth import Identity

DEFAULT_LIST_LIMIT = 20
_encoder = msgspec.json.Encoder()
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


class RunStarted(msgspec.Struct, frozen=True):
    runId: int  # noqa: N815 - the wire name the AppKit contract uses


class StatusReply(msgspec.Struct, frozen=True):
    status: str | None
    run: msgspec.Raw | None


class RunsReply(msgspec.Struct, frozen=True):
    runs: tuple[msgspec.Raw, ...]


def services(request: Request) -> Services:
    """The one typed accessor for what the lifespan opened."""
    return request.scope["state"]["services"]  # type: ignore[no-any-return]


def json_response(payload: object, status: int = 200) -> Response:
    return Response(_encoder.encode(payload), status_code=status, media_type="application/json")


async def identity_for(svc: Services, job: JobSettings, request: Request) -> Identity:
    """The service principal, or the caller when the job is configured `run_as = "user"`."""
    if job.run_as == "user":
        return await svc.users.identify(forwarded_token(request.headers))
    return svc.service_principal


class Caller(NamedTuple):
    """Who asks about which job: what every job route resolves before it acts."""

    svc: Services
    job: JobSettings
    identity: Identity


async def caller(request: Request) -> Caller:
    """The job (404 when unknown) and who acts on it (401 without a needed user token)."""
    svc = services(request)
    job = svc.ops.job(request.path_params["job_key"])
    return Caller(svc, job, await identity_for(svc, job, request))


async def run_caller(request: Request) -> tuple[Caller, int]:
    """`caller` for a route about one run; a malformed run id is a 400 before anyone is asked."""
    svc = services(request)
    job = svc.ops.job(request.path_params["job_key"])
    run_id = parse_run_id(request.path_params["run_id"])
    return Caller(svc, job, await identity_for(svc, job, request)), run_id


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


async def list_jobs(request: Request) -> Response:
    jobs = services(request).settings.jobs
    return json_response(
        {
            "jobs": [
                {
                    "key": job.key,
                    "taskType": job.task_type,
                    "configured": job.job_id is not None,
                    "runAs": job.run_as,
                    "params": params_json_schema(job.params, task_type=job.task_type),
                }
                for job in jobs.values()
            ]
        }
    )


async def get_job(request: Request) -> Response:
    svc, job, identity = await caller(request)
    return json_response(await svc.ops.get_job(job, identity))


async def run_job(request: Request) -> Response | ASGIApp:
    stream = parse_flag("stream", request.query_params.get("stream"))
    svc, job, identity = await caller(request)
    refuse_when_draining(svc)
    if not stream:
        return json_response(RunStarted(runId=await _trigger(svc, job, identity, request)))
    with svc.gauge.admit():
        run_id = await _trigger(svc, job, identity, request)
        if svc.hub.closed:
            # Shutting down since the trigger: the run exists, so say which it is, not 503.
            return json_response(RunStarted(runId=run_id))
        # Run-and-wait is bounded by the job's wait timeout, as AppKit's is; a watch is not.
        following = await svc.follow_new_run(job, identity, run_id)
        watch_url = request.app.url_path_for("watch_run", job_key=job.key, run_id=str(run_id))
        started = {"runId": run_id, "watchUrl": str(watch_url)}
        prelude = json_frame(started, event="run", event_id=following.start_id)
        return event_stream(svc, following, prelude=prelude)


async def _trigger(svc: Services, job: JobSettings, identity: Identity, request: Request) -> int:
    fields = svc.ops.prepare_run(job, await _params(request))
    return await svc.ops.run_now(
        job, identity, fields, idempotency_key=request.headers.get("idempotency-key")
    )


async def watch_run(request: Request) -> Response | ASGIApp:
    (svc, job, identity), run_id = await run_caller(request)
    refuse_when_draining(svc)
    last_event_id = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    with svc.gauge.admit():
        following = await svc.follow_run(job, identity, run_id, last_event_id)
        if following is None:
            # The client has the final event: 204 tells EventSource to stop reconnecting.
            return Response(status_code=204)
        return event_stream(svc, following)


async def list_runs(request: Request) -> Response:
    limit = parse_limit(request.query_params.get("limit"))
    svc, job, identity = await caller(request)
    runs = await svc.ops.list_runs(job, identity, limit)
    return json_response(RunsReply(runs=runs))


async def get_run(request: Request) -> Response:
    (svc, job, identity), run_id = await run_caller(request)
    snapshot = await svc.ops.get_run(job, identity, run_id)
    return Response(bytes(snapshot.raw), media_type="application/json")


async def get_run_output(request: Request) -> Response:
    (svc, job, identity), run_id = await run_caller(request)
    return json_response(await svc.ops.get_run_output(job, identity, run_id))


async def cancel_run(request: Request) -> Response:
    (svc, job, identity), run_id = await run_caller(request)
    await svc.ops.cancel_run(job, identity, run_id)
    return Response(status_code=204)


async def status(request: Request) -> Response:
    svc, job, identity = await caller(request)
    latest = await svc.ops.last_run(job, identity)
    if latest is None:
        return json_response(StatusReply(status=None, run=None))
    return json_response(StatusReply(status=latest.run.life_cycle_state, run=latest.raw))


async def livez(_request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    svc = services(request)
    if svc.stopping.is_set() or svc.draining.is_set():
        return json_response({"status": "draining"}, status=503)
    if svc.link is not None:
        # Still ready without Redis: the replica serves locally (see service/redis_link.py).
        return json_response({"status": "ready", "redis": "up" if svc.link.up else "down"})
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    return Response(render(registry_for(services(request))), media_type=CONTENT_TYPE)


async def _params(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return None
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise InvalidRequest("Request body must be valid JSON") from None
    except RecursionError:  # msgspec's depth guard: ~1,000 nested arrays or objects
        raise InvalidRequest("Request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("Request body must be a JSON object")
    if "params" in payload and not isinstance(payload["params"], dict):
        raise InvalidRequest("params must be a plain object")
    if payload and "params" not in payload:
        raise InvalidRequest(_unwrapped_hint(payload))
    return payload.get("params")


def _unwrapped_hint(payload: dict[str, Any]) -> str:
    """Parameters sent at the top level: say where they go (a few names, and only plain ones)."""
    names = [k for k in payload if k.isidentifier() and len(k) <= 64][:3]
    shown = ", ".join(f'"{name}": ...' for name in names) or "..."
    return f'Parameters go under "params": send {{"params": {{{shown}}}}}, not {{{shown}}}'


def routes() -> list[BaseRoute]:
    """The route table, hottest read first (Starlette tries routes in order). Links to a route
    are made from its name (`url_path_for`), so each path is written here only."""
    prefix = "/api/jobs"
    run = f"{prefix}/{{job_key}}/runs/{{run_id}}"
    return [
        Route(f"{prefix}/{{job_key}}/status", status, methods=["GET"], name="status"),
        Route(run, get_run, methods=["GET"], name="get_run"),
        Route(run, cancel_run, methods=["DELETE"], name="cancel_run"),
        Route(f"{run}/events", watch_run, methods=["GET"], name="watch_run"),
        Route(f"{run}/output", get_run_output, methods=["GET"], name="get_run_output"),
        Route(f"{prefix}/{{job_key}}/runs", list_runs, methods=["GET"], name="list_runs"),
        Route(f"{prefix}/{{job_key}}/run", run_job, methods=["POST"], name="run_job"),
        Route(f"{prefix}/{{job_key}}", get_job, methods=["GET"], name="get_job"),
        Route(prefix, list_jobs, methods=["GET"], name="list_jobs"),
        Route("/livez", livez, methods=["GET"], name="livez"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
        Route("/health", livez, methods=["GET"], name="health"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
    ]
