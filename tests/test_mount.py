"""The service mounted in a parent Starlette app, its lifespan entered by the parent's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest
import respx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from service.basics.errors import ConfigError
from service.mount import Mountable, mountable
from tests.factories import (
    HOST,
    JOB_IDS,
    TOKEN,
    log_lines,
    make_run,
    make_settings,
    transport,
    with_lifespan,
)


def parent(sidecar: Mountable, *, enter: bool = True) -> Starlette:
    """An app of its own with the sidecar under /jobs, as examples/mounted_app.py builds it."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, object]]:
        if enter:
            async with sidecar.lifespan():
                yield {"greeting": "hello"}
        else:
            yield {"greeting": "hello"}

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    return Starlette(routes=[Route("/", home), Mount("/jobs", app=sidecar.app)], lifespan=lifespan)


def apps_mode():
    settings = make_settings()
    return msgspec.structs.replace(
        settings, access=msgspec.structs.replace(settings.access, mode="apps")
    )


async def test_a_mounted_sidecar_serves_its_routes_below_the_mount_point(upstream):
    upstream.get("/runs/list").respond(json={"runs": [make_run(7)]})
    sidecar = mountable(make_settings(), upstream=transport(upstream))
    async with with_lifespan(parent(sidecar)) as (_, client):
        runs = await client.get("/jobs/api/jobs/etl/runs")
        jobs = await client.get("/jobs/api/jobs")
    assert runs.status_code == 200
    assert [run["run_id"] for run in runs.json()["runs"]] == [7]
    assert sorted(job["key"] for job in jobs.json()["jobs"]) == sorted(JOB_IDS)


async def test_the_parent_keeps_its_own_routes_and_lifespan_state(upstream):
    sidecar = mountable(make_settings(), upstream=transport(upstream))
    async with with_lifespan(parent(sidecar)) as (_, client):
        home = await client.get("/")
    assert home.text == "hello"


async def test_without_the_parent_entering_its_lifespan_a_request_says_what_to_do(upstream):
    sidecar = mountable(make_settings(), upstream=transport(upstream))
    async with with_lifespan(parent(sidecar, enter=False)) as (_, client):
        with pytest.raises(RuntimeError, match=r"enter `sidecar.lifespan\(\)`"):
            await client.get("/jobs/api/jobs")


async def test_the_lifespan_cannot_be_entered_twice(upstream):
    sidecar = mountable(make_settings(), upstream=transport(upstream))
    async with sidecar.lifespan():
        with pytest.raises(RuntimeError, match="already running"):
            async with sidecar.lifespan():
                pass


async def test_the_lifespan_closes_the_upstream_client_when_the_parent_stops():
    router = respx.MockRouter(assert_all_called=False)
    closed: list[bool] = []

    class Watched(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    sidecar = mountable(make_settings(), upstream=Watched(router.async_handler))
    async with sidecar.lifespan():
        assert closed == []
    assert closed == [True]


def test_a_sidecar_without_an_access_mode_is_refused_as_serve_refuses_it():
    settings = make_settings(environ={"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN})
    assert settings.access.mode is None  # on 0.0.0.0, outside Databricks Apps, none chosen
    with pytest.raises(ConfigError, match="no access mode"):
        mountable(settings)


async def test_probes_and_the_dashboard_below_the_mount_point_answer_without_a_caller(upstream):
    sidecar = mountable(apps_mode(), upstream=transport(upstream))
    async with with_lifespan(parent(sidecar)) as (_, client):
        probe = await client.get("/jobs/livez")
        page = await client.get("/jobs/")
        jobs = await client.get("/jobs/api/jobs")
    assert (probe.status_code, page.status_code) == (200, 200)
    assert jobs.status_code == 401  # the API still needs the proxy's word


async def test_the_api_document_below_the_mount_point_names_it_as_its_server(upstream):
    sidecar = mountable(make_settings(), upstream=transport(upstream))
    async with with_lifespan(parent(sidecar)) as (_, client):
        document = (await client.get("/jobs/openapi.json")).json()
    assert document["servers"] == [{"url": "/jobs"}]


async def test_probes_below_the_mount_point_are_logged_only_when_they_fail(json_logs, upstream):
    sidecar = mountable(make_settings(), upstream=transport(upstream))
    async with with_lifespan(parent(sidecar)) as (_, client):
        await client.get("/jobs/livez")
        await client.get("/jobs/api/jobs")
    routes = [line["route"] for line in log_lines(json_logs) if line["event"] == "http.request"]
    assert routes == ["/api/jobs"]


async def test_mounted_at_the_root_after_your_routes_it_serves_appkits_paths(upstream):
    sidecar = mountable(make_settings(), upstream=transport(upstream))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with sidecar.lifespan():
            yield

    async def home(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("mine")

    app = Starlette(routes=[Route("/", home), Mount("/", app=sidecar.app)], lifespan=lifespan)
    async with with_lifespan(app) as (_, client):
        home_page = await client.get("/")
        jobs = await client.get("/api/jobs")
    assert home_page.text == "mine"  # your routes first: the sidecar's dashboard is shadowed
    assert jobs.status_code == 200


async def test_a_rerun_below_the_mount_point_says_where_to_watch_it_there(upstream):
    upstream.get("/runs/get").respond(
        json=make_run(7, state="TERMINATED", result="FAILED", job_id=JOB_IDS["etl"])
    )
    upstream.post("/run-now").respond(json={"run_id": 8})
    sidecar = mountable(make_settings(), upstream=transport(upstream))
    async with with_lifespan(parent(sidecar)) as (_, client):
        rerun = await client.post("/jobs/api/jobs/etl/runs/7/rerun")
    assert rerun.status_code == 200
    assert rerun.json() == {"runId": 8, "watchUrl": "/jobs/api/jobs/etl/runs/8/events"}
