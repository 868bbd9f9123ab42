"""runs/list: newest first, paged by opaque tokens, filtered, tasks only on request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.emulator import ManualClock
from tests.emulator.conftest import (
    NOTEBOOK,
    ONE_TASK,
    PIPELINE,
    START_MS,
    make_app,
    make_client,
    make_scenario,
    run_now,
)


async def list_runs(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get("/api/2.2/jobs/runs/list", params=params)


async def listed(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await list_runs(client, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def start_runs(client: httpx.AsyncClient, clock: ManualClock, count: int) -> list[int]:
    runs = []
    for _ in range(count):
        runs.append(await run_now(client, NOTEBOOK))
        clock.advance(1)
    return runs


async def test_nothing_to_list_omits_runs(client: httpx.AsyncClient) -> None:
    assert await listed(client) == {"has_more": False}


async def test_runs_come_newest_first(client: httpx.AsyncClient, clock: ManualClock) -> None:
    runs = await start_runs(client, clock, 3)
    assert [run["run_id"] for run in (await listed(client))["runs"]] == runs[::-1]


async def test_finished_runs_sort_by_when_they_ended(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    slow = await run_now(client, NOTEBOOK, job_parameters={"emulator_duration_ms": "100000"})
    clock.advance(1)
    quick = await run_now(client, NOTEBOOK)
    clock.advance(200_000)
    newest = [run["run_id"] for run in (await listed(client))["runs"]]
    assert newest == [slow, quick]


async def test_the_default_page_is_20_runs(client: httpx.AsyncClient, clock: ManualClock) -> None:
    await start_runs(client, clock, 21)
    page = await listed(client)
    assert (len(page["runs"]), page["has_more"]) == (20, True)
    assert "prev_page_token" not in page


async def test_tokens_page_through_every_run_once(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    runs = await start_runs(client, clock, 30)
    seen: list[int] = []
    pages = 0
    token = None
    while True:
        page = await listed(client, limit=7, **({"page_token": token} if token else {}))
        seen += [run["run_id"] for run in page["runs"]]
        pages += 1
        token = page.get("next_page_token")
        if token is None:
            break
        assert page["has_more"] is True
    assert (seen, pages) == (runs[::-1], 5)
    assert page["has_more"] is False


async def test_prev_page_token_leads_back(client: httpx.AsyncClient, clock: ManualClock) -> None:
    await start_runs(client, clock, 10)
    first = await listed(client, limit=4)
    second = await listed(client, limit=4, page_token=first["next_page_token"])
    back = await listed(client, limit=4, page_token=second["prev_page_token"])
    assert back["runs"] == first["runs"]


@pytest.mark.parametrize(("limit", "size"), [(0, 25), (25, 25), (1, 1)])
async def test_limit_is_1_to_25_and_0_means_the_most(
    client: httpx.AsyncClient, clock: ManualClock, limit: int, size: int
) -> None:
    await start_runs(client, clock, 26)
    assert len((await listed(client, limit=limit))["runs"]) == size


async def test_a_limit_above_the_maximum_is_400(client: httpx.AsyncClient) -> None:
    response = await list_runs(client, limit=26)
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Invalid limit 26 - it has to be no more than 25.",
    }


async def test_the_maximum_limit_is_a_scenario_setting(clock: ManualClock) -> None:
    async with make_client(make_app(make_scenario(list_limit_max=26), clock=clock)) as client:
        assert (await list_runs(client, limit=26)).status_code == 200


async def test_active_only_and_completed_only_split_the_runs(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    done = await run_now(client, NOTEBOOK)
    clock.advance(ONE_TASK)
    active = await run_now(client, NOTEBOOK)
    assert [r["run_id"] for r in (await listed(client, active_only="true"))["runs"]] == [active]
    assert [r["run_id"] for r in (await listed(client, completed_only="true"))["runs"]] == [done]


async def test_active_only_with_completed_only_is_400(client: httpx.AsyncClient) -> None:
    response = await list_runs(client, active_only="true", completed_only="true")
    assert (response.status_code, response.json()["error_code"]) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )


async def test_false_booleans_filter_nothing(client: httpx.AsyncClient) -> None:
    await run_now(client, NOTEBOOK)
    assert len((await listed(client, active_only="false", completed_only="false"))["runs"]) == 1


async def test_job_id_filters_the_runs(client: httpx.AsyncClient) -> None:
    await run_now(client, NOTEBOOK)
    pipeline = await run_now(client, PIPELINE)
    assert [r["run_id"] for r in (await listed(client, job_id=PIPELINE))["runs"]] == [pipeline]


async def test_start_time_bounds_are_inclusive(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    runs = await start_runs(client, clock, 3)
    page = await listed(client, start_time_from=START_MS + 1, start_time_to=START_MS + 1)
    assert [run["run_id"] for run in page["runs"]] == [runs[1]]


async def test_tasks_are_listed_only_with_expand_tasks(client: httpx.AsyncClient) -> None:
    await run_now(client, PIPELINE)
    plain = (await listed(client))["runs"][0]
    expanded = (await listed(client, expand_tasks="true"))["runs"][0]
    assert "tasks" not in plain
    assert [task["task_key"] for task in expanded["tasks"]] == ["ingest", "transform", "publish"]


@pytest.mark.parametrize(
    "params", [{"page_token": "not-a-token"}, {"active_only": "yes"}, {"limit": "ten"}]
)
async def test_malformed_query_values_are_400(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await list_runs(client, **params)
    assert (response.status_code, response.json()["error_code"]) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
