"""jobs/get and jobs/list: the scenario's jobs with the server's defaults filled in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.emulator import ManualClock
from service.emulator.scenario import JobSpec, TaskSpec
from tests.emulator.conftest import (
    FLAKY,
    NOTEBOOK,
    START_MS,
    make_app,
    make_client,
    make_scenario,
)


async def get_job(client: httpx.AsyncClient, job_id: int) -> httpx.Response:
    return await client.get("/api/2.2/jobs/get", params={"job_id": job_id})


async def list_jobs(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/2.2/jobs/list", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_job_shows_its_settings_with_server_defaults(client: httpx.AsyncClient) -> None:
    job = (await get_job(client, NOTEBOOK)).json()
    assert (job["job_id"], job["created_time"]) == (NOTEBOOK, START_MS)
    settings = job["settings"]
    assert settings["name"] == "notebook"
    assert settings["format"] == "MULTI_TASK"
    assert settings["max_concurrent_runs"] == 50
    assert settings["queue"] == {"enabled": True}
    assert settings["timeout_seconds"] == 0
    assert settings["parameters"] == [
        {"name": "env", "default": "dev"},
        {"name": "run_date", "default": ""},
    ]
    assert settings["tasks"] == [
        {
            "notebook_task": {
                "notebook_path": "/Workspace/Jobs/notebook/main",
                "source": "WORKSPACE",
            },
            "task_key": "main",
            "run_if": "ALL_SUCCESS",
            "timeout_seconds": 0,
            "email_notifications": {},
        }
    ]


async def test_task_types_and_dependencies_are_shown(client: httpx.AsyncClient) -> None:
    tasks = (await get_job(client, FLAKY)).json()["settings"]["tasks"]
    assert [("python_wheel_task" in t, t.get("depends_on")) for t in tasks] == [
        (False, None),
        (True, [{"task_key": "extract"}]),
        (False, [{"task_key": "load"}]),
    ]


async def test_an_unknown_job_is_400_does_not_exist(client: httpx.AsyncClient) -> None:
    response = await get_job(client, 404)
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Job 404 does not exist.",
    }


async def test_jobs_are_listed_by_id_in_pages(client: httpx.AsyncClient) -> None:
    first = await list_jobs(client, limit=4)
    second = await list_jobs(client, limit=10, page_token=first["next_page_token"])
    ids = [job["job_id"] for job in first["jobs"] + second["jobs"]]
    assert ids == sorted(ids)
    assert len(ids) == 11
    assert (first["has_more"], second["has_more"]) == (True, False)
    assert "next_page_token" not in second


async def test_jobs_list_finds_a_job_by_name_ignoring_case(client: httpx.AsyncClient) -> None:
    jobs = (await list_jobs(client, name="FLAKY"))["jobs"]
    assert [job["job_id"] for job in jobs] == [FLAKY]


async def test_jobs_list_shows_tasks_only_with_expand_tasks(client: httpx.AsyncClient) -> None:
    plain = (await list_jobs(client, limit=1))["jobs"][0]
    expanded = (await list_jobs(client, limit=1, expand_tasks="true"))["jobs"][0]
    assert "tasks" not in plain["settings"]
    assert len(expanded["settings"]["tasks"]) == 1


@pytest.mark.parametrize(("limit", "status"), [(100, 200), (101, 400)])
async def test_jobs_list_limit_is_at_most_100(
    client: httpx.AsyncClient, limit: int, status: int
) -> None:
    response = await client.get("/api/2.2/jobs/list", params={"limit": limit})
    assert response.status_code == status


async def test_api_2_2_pages_a_jobs_tasks_by_100(clock: ManualClock) -> None:
    tasks = tuple(TaskSpec(task_key=f"t{i:03}") for i in range(130))
    scenario = make_scenario(jobs={"wide": JobSpec(job_id=9, tasks=tasks)})
    async with make_client(make_app(scenario, clock=clock)) as client:
        first = (await get_job(client, 9)).json()
        second = (
            await client.get(
                "/api/2.2/jobs/get", params={"job_id": 9, "page_token": first["next_page_token"]}
            )
        ).json()
    assert (len(first["settings"]["tasks"]), first["has_more"]) == (100, True)
    assert len(second["settings"]["tasks"]) == 30
    assert "next_page_token" not in second
