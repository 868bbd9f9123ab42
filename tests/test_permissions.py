"""Per-job rules: which names an entry matches, run narrowing view, what the file accepts; and on
the routes, the order of checks: 401 → 404 (unknown, or not the caller's to view) → 403 (a write
they may not make) → 400 (body, parameters) → Databricks; the Python API, which the rules do not
bind."""

from __future__ import annotations

import httpx
import pytest
import respx

from service.callers import ANONYMOUS, Caller
from service.errors import ConfigError
from service.jobs import Jobs
from service.permissions import may_run, may_view, names
from service.settings_file import JobAccess
from tests.factories import HOST, TOKEN, make_client, make_settings, scim_me, transport


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("*", "anonymous"),
        ("*", "ci-bot"),
        ("*@example.com", "alice@example.com"),
        ("*@example.com", "Bob@EXAMPLE.com"),
        ("*@Example.COM", "carol@example.com"),
        ("alice@example.com", "ALICE@example.com"),
        ("ci-bot", "ci-bot"),
    ],
)
def test_an_entry_names_the_caller(entry, name):
    assert names((entry,), Caller(name))


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("*@example.com", "eve@evil-example.com"),
        ("*@example.com", "a@example.com.evil"),
        ("*@example.com", "a@sub.example.com"),
        ("*@example.com", "example.com"),
        ("*@example.com", "@example.com"),
        ("*@example.com", "anonymous"),
        ("alice@example.com", "alice@example.co"),
        ("ci-bot", "CI-BOT"),  # key names are exact
        ("ci-bot", "ci-bot2"),
    ],
)
def test_an_entry_does_not_name_another_caller(entry, name):
    assert not names((entry,), Caller(name))


def test_no_entry_names_no_one():
    assert not names((), ANONYMOUS)


def test_absent_rules_let_everyone_do_everything():
    assert may_view(JobAccess(), ANONYMOUS)
    assert may_run(JobAccess(), ANONYMOUS)


def test_run_narrows_view_so_a_view_rule_alone_hides_the_job_from_everyone_else():
    access = JobAccess(view=("ops",))  # run is left at "*"
    assert may_run(access, Caller("ops"))
    assert not may_view(access, Caller("dev"))
    assert not may_run(access, Caller("dev"))


def test_a_runner_must_also_be_a_viewer():
    access = JobAccess(run=("ops",), view=("dev",))
    assert not may_run(access, Caller("ops"))


def test_a_viewer_may_not_run():
    access = JobAccess(run=("ops",), view=("*",))
    assert may_view(access, Caller("dev"))
    assert not may_run(access, Caller("dev"))


@pytest.mark.parametrize("entry", ["*.example.com", "*example.com", "a*", "*@", "*@a@b", " bob"])
def test_the_file_refuses_an_entry_that_would_not_mean_what_it_says(tmp_path, entry):
    toml = f'[jobs.etl]\njob_id = 1\n[jobs.etl.access]\nrun = ["{entry}"]\n'
    with pytest.raises(ConfigError, match=r"at `\$\.jobs\.etl\.access\.run\[0\]`"):
        make_settings(toml, tmp_path=tmp_path)


def test_the_file_s_rules_reach_the_job(tmp_path):
    toml = '[jobs.etl]\njob_id = 1\n[jobs.etl.access]\nrun = ["*@example.com"]\nview = ["ops"]\n'
    job = make_settings(toml, tmp_path=tmp_path).jobs["etl"]
    assert job.access == JobAccess(run=("*@example.com",), view=("ops",))


# On the routes: the order of checks.

KEYS = "viewer:viewer-secret-01234,runner:runner-secret-01234"
RULES = """
[jobs.etl]
job_id = 101
[jobs.etl.access]
run = ["runner"]
view = ["viewer", "runner"]
[jobs.mine]
job_id = 102
run_as = "user"
[jobs.mine.access]
run = ["runner"]
view = ["viewer", "runner"]
[jobs.draft]
[jobs.draft.access]
view = ["viewer"]
"""


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}-secret-01234"}


@pytest.fixture
def settings(tmp_path):
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_TOKEN": TOKEN,
        "ACCESS_MODE": "token",
        "SIDECAR_API_KEYS": KEYS + ",stranger:stranger-secret-01234",
    }
    return make_settings(RULES, environ=environ, tmp_path=tmp_path)


@pytest.fixture
def nothing_upstream():
    """Every call to Databricks fails the test: these refusals must come before any."""
    with respx.mock(base_url=HOST, assert_all_called=False) as router:
        scim = scim_me(router, {"user-token": "u@example.com"})
        yield router, scim


@pytest.mark.parametrize(
    ("who", "path", "code"),
    [
        ("stranger", "/api/jobs/draft", "UNKNOWN_JOB"),  # not JOB_NOT_CONFIGURED: no name leaks
        ("viewer", "/api/jobs/draft", "JOB_NOT_CONFIGURED"),
        ("stranger", "/api/jobs/etl/runs?limit=oops", "UNKNOWN_JOB"),
        ("stranger", "/api/jobs/etl/runs/not-a-run", "UNKNOWN_JOB"),
        ("stranger", "/api/jobs/mine/status", "UNKNOWN_JOB"),  # no user token asked for
    ],
)
async def test_a_job_the_caller_may_not_view_is_404_before_anything_else(
    settings, nothing_upstream, who, path, code
):
    async with make_client(settings, nothing_upstream[0]) as client:
        response = await client.get(path, headers=as_(who))
    assert response.status_code == 404
    assert response.json()["code"] == code
    assert nothing_upstream[1].call_count == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/jobs/etl/run?stream=maybe", "{}"),  # a bad flag
        ("/api/jobs/etl/run", "{not json"),  # a bad body
        ("/api/jobs/mine/run", "{}"),  # run_as = "user" with no user token: still 403 first
    ],
)
async def test_a_viewer_s_trigger_is_403_before_its_input_is_read(
    settings, nothing_upstream, path, body
):
    async with make_client(settings, nothing_upstream[0]) as client:
        response = await client.post(path, content=body, headers=as_("viewer"))
    assert response.status_code == 403
    assert response.json() == {
        "error": f'You may view job "{path.split("/")[3]}" but not run or cancel its runs',
        "code": "FORBIDDEN",
        "plugin": "jobs",
    }
    assert nothing_upstream[1].call_count == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/jobs/etl/runs/7/repair"),
        ("POST", "/api/jobs/etl/runs/7/repair?stream=maybe"),
        ("POST", "/api/jobs/etl/runs/7/rerun"),
        ("DELETE", "/api/jobs/etl/runs"),
        ("POST", "/api/jobs/mine/runs/7/repair"),  # no user token: still 403 first
    ],
)
async def test_a_viewer_s_repair_rerun_and_cancel_all_are_403_before_anything_else(
    settings, nothing_upstream, method, path
):
    async with make_client(settings, nothing_upstream[0]) as client:
        response = await client.request(method, path, content="{}", headers=as_("viewer"))
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
    assert nothing_upstream[1].call_count == 0


async def test_runs_of_all_jobs_leave_out_a_job_run_as_its_user_without_a_user_token(
    settings, nothing_upstream
):
    router, _ = nothing_upstream
    etl = router.get("/api/2.1/jobs/runs/list", params={"job_id": "101"}).respond(
        json={"runs": [{"run_id": 7, "job_id": 101}], "has_more": False}
    )
    async with make_client(settings, router) as client:
        response = await client.get("/api/runs", headers=as_("viewer"))
    assert [run["jobKey"] for run in response.json()["runs"]] == ["etl"]
    assert etl.call_count == 1


async def test_the_runner_s_bad_input_is_still_a_400(settings, nothing_upstream):
    async with make_client(settings, nothing_upstream[0]) as client:
        response = await client.post("/api/jobs/etl/run?stream=maybe", headers=as_("runner"))
    assert response.status_code == 400


async def test_a_viewer_s_cancel_is_403_and_the_runner_s_reaches_databricks(settings):
    with respx.mock(base_url=HOST) as router:
        cancel = router.post("/api/2.1/jobs/runs/cancel").respond(200, json={})
        router.get("/api/2.1/jobs/runs/get").respond(
            200, json={"run_id": 7, "job_id": 101, "state": {"life_cycle_state": "RUNNING"}}
        )
        async with make_client(settings, router) as client:
            refused = await client.delete("/api/jobs/etl/runs/7", headers=as_("viewer"))
            assert cancel.call_count == 0
            done = await client.delete("/api/jobs/etl/runs/7", headers=as_("runner"))
    assert (refused.status_code, done.status_code) == (403, 204)
    assert cancel.call_count == 1


async def test_the_python_api_is_not_bound_by_the_http_rules(settings):
    """The program holds the credentials: `run = ["runner"]` does not stop it."""
    with respx.mock(base_url=HOST) as router:
        router.post("/api/2.1/jobs/run-now").mock(
            side_effect=lambda _r: httpx.Response(200, json={"run_id": 31})
        )
        async with Jobs.open(settings, transport=transport(router)) as jobs:
            result = await jobs("etl").run_now()
    assert result.data == {"run_id": 31}
