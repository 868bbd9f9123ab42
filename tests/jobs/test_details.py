"""GET /api/jobs?describe=true: each job's name, description and task keys, from jobs/get."""

from __future__ import annotations

import json

import pytest

from tests.factories import JOB_IDS, make_client, make_settings


def job_reply(key: str, **settings: object) -> dict[str, object]:
    return {"job_id": JOB_IDS[key], "creator_user_name": "me", "settings": settings}


def jobs_get(upstream, key: str, reply: dict[str, object] | None = None, status: int = 200):
    route = upstream.get("/get", params={"job_id": str(JOB_IDS[key])})
    if status != 200:
        return route.respond(status, json={"error_code": "X", "message": "internals"})
    return route.respond(json=reply)


async def test_describe_adds_each_jobs_name_description_and_task_keys(client, upstream):
    tasks = [{"task_key": "extract", "notebook_task": {}}, {"task_key": "load"}]
    etl = job_reply("etl", name="nightly", description="Loads sales.", tasks=tasks)
    jobs_get(upstream, "etl", etl)
    jobs_get(upstream, "report", job_reply("report", name="report-job"))
    jobs_get(upstream, "other", job_reply("other", name="other-job", description=None))
    response = await client.get("/api/jobs", params={"describe": "true"})
    assert response.status_code == 200
    jobs = {job["key"]: job for job in response.json()["jobs"]}
    assert (jobs["etl"]["name"], jobs["etl"]["description"]) == ("nightly", "Loads sales.")
    assert jobs["etl"]["tasks"] == ["extract", "load"]
    assert jobs["report"] | {"params": None} == {
        "key": "report",
        "taskType": None,
        "configured": True,
        "runAs": "service_principal",
        "canRun": True,
        "params": None,
        "name": "report-job",
        "description": None,
        "tasks": [],
    }
    assert jobs["other"]["description"] is None


async def test_without_describe_the_list_asks_databricks_nothing(client, upstream):
    response = await client.get("/api/jobs")
    assert response.status_code == 200
    assert not upstream.calls
    assert all("name" not in job and "tasks" not in job for job in response.json()["jobs"])


@pytest.mark.parametrize("status", [404, 403, 500, 503])
async def test_a_job_whose_definition_cannot_be_read_is_listed_without_details(
    client, upstream, status
):
    jobs_get(upstream, "etl", status=status)
    jobs_get(upstream, "report", job_reply("report", name="report-job"))
    jobs_get(upstream, "other", job_reply("other", name="other-job"))
    response = await client.get("/api/jobs", params={"describe": "1"})
    assert response.status_code == 200
    jobs = {job["key"]: job for job in response.json()["jobs"]}
    assert set(jobs) == {"etl", "report", "other"}
    assert "name" not in jobs["etl"]
    assert "description" not in jobs["etl"]
    assert jobs["report"]["name"] == "report-job"
    assert "internals" not in response.text


async def test_a_reply_of_another_shape_is_no_details(client, upstream):
    jobs_get(upstream, "etl", {"job_id": JOB_IDS["etl"], "settings": {"name": 7}})
    jobs_get(upstream, "report", job_reply("report", name="report-job"))
    jobs_get(upstream, "other", job_reply("other"))
    jobs = {j["key"]: j for j in (await client.get("/api/jobs?describe=true")).json()["jobs"]}
    assert "name" not in jobs["etl"]
    assert (jobs["other"]["name"], jobs["other"]["tasks"]) == (None, [])


async def test_the_details_are_a_cached_read_shared_with_get_job(client, upstream):
    etl = jobs_get(upstream, "etl", job_reply("etl", name="nightly"))
    jobs_get(upstream, "report", job_reply("report"))
    jobs_get(upstream, "other", job_reply("other"))
    await client.get("/api/jobs?describe=true")
    await client.get("/api/jobs?describe=true")
    single = await client.get("/api/jobs/etl")
    assert etl.call_count == 1
    assert single.json()["settings"] == {"name": "nightly"}


async def test_a_job_run_as_its_user_asked_without_a_users_token_has_no_details(tmp_path, upstream):
    toml = '[jobs.etl]\njob_id = 101\nrun_as = "user"\n[jobs.report]\njob_id = 102\n'
    report = jobs_get(upstream, "report", job_reply("report", name="report-job"))
    async with make_client(make_settings(toml, tmp_path=tmp_path), upstream) as client:
        response = await client.get("/api/jobs?describe=true")
    jobs = {job["key"]: job for job in response.json()["jobs"]}
    assert "name" not in jobs["etl"]
    assert jobs["report"]["name"] == "report-job"
    assert [json.loads(c.request.url.params["job_id"]) for c in report.calls] == [102]


@pytest.mark.parametrize("flag", ["yes", "", "2"])
async def test_a_describe_flag_other_than_true_or_false_is_400(client, upstream, flag):
    response = await client.get("/api/jobs", params={"describe": flag})
    assert response.status_code == 400
    assert response.json()["error"] == "describe must be true or false (or 1 or 0)"
    assert not upstream.calls
