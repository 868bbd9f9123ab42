"""The Jobs API routes, served alike under /api/2.0, /api/2.1 and /api/2.2."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.emulator.errors import InvalidParameter, json_response
from service.emulator.inputs import (
    decode_body,
    origin,
    page_limit,
    page_offset,
    page_tokens,
    query_bool,
    query_int,
    required_int,
)
from service.emulator.outputs import render_output
from service.emulator.render import Workspace, render_job, render_run, render_task_run
from service.emulator.repair import decode_repair
from service.emulator.runnow import decode_run_now
from service.emulator.state import Emulator, RunFilter
from service.emulator.wire import (
    ListJobsResponse,
    ListRunsResponse,
    RepairRunResponse,
    RunNowResponse,
)

VERSIONS = ("2.0", "2.1", "2.2")
ARRAY_PAGE = 100  # API 2.2 returns arrays such as `tasks` 100 elements at a time
JOBS_LIST_MAX = 100
MULTI_TASK_OUTPUT = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)

Handler = Callable[[Request], Awaitable[Response]]


class _RunId(msgspec.Struct):
    run_id: int | None = None


class _CancelAll(msgspec.Struct):
    job_id: int | None = None
    all_queued_runs: bool = False


class JobsApi:
    """The Jobs API handlers over one emulated workspace; each reads its clock once."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def get_job(self, request: Request) -> Response:
        job = self.emulator.job(required_int(request, "job_id"))
        ws = _workspace(self.emulator, request)
        body = render_job(job, ws)
        if _pages_arrays(request) and body.settings.tasks is not None:
            offset = page_offset(request)
            following, _ = page_tokens(offset, ARRAY_PAGE, len(body.settings.tasks))
            settings = msgspec.structs.replace(
                body.settings,
                tasks=body.settings.tasks[offset : offset + ARRAY_PAGE],
                parameters=body.settings.parameters if offset == 0 else None,
            )
            body = msgspec.structs.replace(
                body,
                settings=settings,
                has_more=following is not None or None,
                next_page_token=following,
            )
        return json_response(body)

    async def list_jobs(self, request: Request) -> Response:
        limit = page_limit(request, default=20, maximum=JOBS_LIST_MAX)
        offset = page_offset(request)
        name = request.query_params.get("name")
        expand = query_bool(request, "expand_tasks")
        ws = _workspace(self.emulator, request)
        jobs = [
            job
            for _, job in sorted(self.emulator.jobs.items())
            if name is None or job.name.lower() == name.lower()
        ]
        following, preceding = page_tokens(offset, limit, len(jobs))
        page = [render_job(job, ws, with_tasks=expand) for job in jobs[offset : offset + limit]]
        return json_response(
            ListJobsResponse(
                jobs=page or None,
                has_more=following is not None,
                next_page_token=following,
                prev_page_token=preceding,
            )
        )

    async def run_now(self, request: Request) -> Response:
        record = self.emulator.run_now(decode_run_now(await request.body()))
        return json_response(RunNowResponse(run_id=record.run_id, number_in_job=record.run_id))

    async def get_run(self, request: Request) -> Response:
        run_id = required_int(request, "run_id")
        history = query_bool(request, "include_history")
        now = self.emulator.now()
        record, task = self.emulator.find(run_id)
        ws = _workspace(self.emulator, request)
        if task is not None:
            return json_response(render_task_run(record, task, now, ws))
        if not _pages_arrays(request):
            return json_response(render_run(record, now, ws, with_history=history))
        offset = page_offset(request)
        body = render_run(
            record, now, ws, tasks_from=offset, tasks_max=ARRAY_PAGE, with_history=history
        )
        following, _ = page_tokens(offset, ARRAY_PAGE, len(record.plans))
        return json_response(msgspec.structs.replace(body, next_page_token=following))

    async def list_runs(self, request: Request) -> Response:
        active, completed = (
            query_bool(request, "active_only"),
            query_bool(request, "completed_only"),
        )
        if active and completed:
            raise InvalidParameter("active_only and completed_only cannot both be true.")
        which: RunFilter = "active" if active else "completed" if completed else "all"
        limit = page_limit(request, default=20, maximum=self.emulator.scenario.list_limit_max)
        offset = page_offset(request)
        run_type = request.query_params.get("run_type")
        expand = query_bool(request, "expand_tasks")
        now, records = self.emulator.list_runs(
            job_id=query_int(request, "job_id"),
            which=which,
            start_time_from=query_int(request, "start_time_from"),
            start_time_to=query_int(request, "start_time_to"),
        )
        if run_type not in (None, "", "JOB_RUN"):
            records = []  # every run here is started by run-now
        ws = _workspace(self.emulator, request)
        following, preceding = page_tokens(offset, limit, len(records))
        cut = ARRAY_PAGE if _pages_arrays(request) else None
        page = []
        for record in records[offset : offset + limit]:
            run = render_run(record, now, ws, with_tasks=expand, tasks_max=cut)
            more = expand and cut is not None and len(record.plans) > cut
            page.append(msgspec.structs.replace(run, has_more=True) if more else run)
        return json_response(
            ListRunsResponse(
                runs=page or None,
                has_more=following is not None,
                next_page_token=following,
                prev_page_token=preceding,
            )
        )

    async def cancel_run(self, request: Request) -> Response:
        body = decode_body(await request.body(), _RunId)
        if body.run_id is None:
            raise InvalidParameter("Missing required field: run_id")
        self.emulator.cancel(body.run_id)
        return json_response({})

    async def cancel_all_runs(self, request: Request) -> Response:
        body = decode_body(await request.body(), _CancelAll)
        self.emulator.cancel_all(body.job_id, all_queued_runs=body.all_queued_runs)
        return json_response({})

    async def repair_run(self, request: Request) -> Response:
        repair_id = self.emulator.repair(decode_repair(await request.body()))
        return json_response(RepairRunResponse(repair_id=repair_id))

    async def get_run_output(self, request: Request) -> Response:
        run_id = required_int(request, "run_id")
        now = self.emulator.now()
        record, task = self.emulator.find(run_id)
        if task is None:
            raise InvalidParameter(MULTI_TASK_OUTPUT)
        return json_response(render_output(record, task, now, _workspace(self.emulator, request)))

    def routes(self) -> list[BaseRoute]:
        """The same table under every API version."""
        table: list[tuple[str, str, Handler]] = [
            ("GET", "get", self.get_job),
            ("GET", "list", self.list_jobs),
            ("POST", "run-now", self.run_now),
            ("GET", "runs/get", self.get_run),
            ("GET", "runs/list", self.list_runs),
            ("POST", "runs/cancel", self.cancel_run),
            ("POST", "runs/cancel-all", self.cancel_all_runs),
            ("POST", "runs/repair", self.repair_run),
            ("GET", "runs/get-output", self.get_run_output),
        ]
        return [
            Route(f"/api/{version}/jobs/{path}", handler, methods=[method])
            for version in VERSIONS
            for method, path, handler in table
        ]


def _workspace(emulator: Emulator, request: Request) -> Workspace:
    return emulator.workspace(origin(request))


def _pages_arrays(request: Request) -> bool:
    return request.url.path.startswith("/api/2.2/")
