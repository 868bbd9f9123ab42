"""The workspace's pages: each run's run_page_url leads to a page of that run."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from service.emulator import ManualClock
from tests.emulator.conftest import ONE_TASK, PIPELINE, get_run, make_client, run_now


async def test_run_page_url_points_at_the_emulator_itself(client: httpx.AsyncClient) -> None:
    run_id = await run_now(client, PIPELINE)
    url = urlsplit((await get_run(client, run_id))["run_page_url"])
    page = await client.get(url.path, params=url.query)
    assert (url.scheme, url.netloc, url.fragment) == (
        "http",
        "workspace.test",
        f"job/{PIPELINE}/run/{run_id}",
    )
    # The fragment never reaches a server: the page's script turns it into the run's own page.
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "location.replace('/emulator/runs/'+m[2])" in page.text


async def test_the_run_page_shows_the_run_and_its_tasks(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    run_id = await run_now(client, PIPELINE, job_parameters={"run_date": "<b>2026</b>"})
    clock.advance(3 * ONE_TASK)
    page = await client.get(f"/emulator/runs/{run_id}")
    assert page.status_code == 200
    assert f"pipeline: run {run_id}</h1>" in page.text
    assert '<strong id="state">TERMINATED</strong>' in page.text
    assert '<strong id="result">SUCCESS</strong>' in page.text
    for task in ("ingest", "transform", "publish"):
        assert f"<code>{task}</code>" in page.text
    assert "&lt;b&gt;2026&lt;/b&gt;" in page.text  # what a run was given is escaped
    assert "<b>2026</b>" not in page.text


async def test_an_unknown_run_has_a_404_page(client: httpx.AsyncClient) -> None:
    page = await client.get("/emulator/runs/42")
    assert page.status_code == 404
    assert "Run not found" in page.text


async def test_the_pages_need_no_token(app) -> None:
    async with make_client(app, token=None) as anonymous:
        assert (await anonymous.get("/")).status_code == 200
