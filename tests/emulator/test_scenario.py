"""Scenarios: the demo file, defaults, and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.emulator import Scenario, load_scenario
from service.emulator.scenario import Client, JobSpec, TaskSpec
from tests.factories import DEMO_JOB_IDS

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_the_demo_is_config_emulator_toml() -> None:
    assert load_scenario(ROOT / "config" / "emulator.toml") == Scenario.demo()


def test_the_demo_keeps_the_job_ids_the_service_config_uses() -> None:
    jobs = Scenario.demo().jobs
    assert {key: jobs[key].job_id for key in DEMO_JOB_IDS} == DEMO_JOB_IDS


def test_the_demo_pipeline_has_three_tasks_in_a_row() -> None:
    tasks = Scenario.demo().jobs["pipeline"].tasks
    assert [(t.task_key, t.depends_on) for t in tasks] == [
        ("ingest", ()),
        ("transform", ("ingest",)),
        ("publish", ("transform",)),
    ]


def test_the_demo_flaky_job_fails_its_second_task() -> None:
    tasks = Scenario.demo().jobs["flaky"].tasks
    assert [t.outcome for t in tasks] == [None, "FAILED", None]


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, ""))
    assert scenario.tokens == ("dapi-local-dev",)
    assert scenario.accept_any_token is True
    assert scenario.token_ttl_s == 3600
    assert scenario.clients == (Client(id="local-client", secret="local-secret"),)
    assert (scenario.timings.pending_ms, scenario.timings.running_ms) == (3000, 10000)
    assert scenario.list_limit_max == 25


def test_a_job_without_tasks_has_one_notebook_task_and_its_key_as_name(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "[jobs.nightly]\njob_id = 7\n"))
    job = scenario.jobs["nightly"]
    assert (job.name, job.tasks) == ("nightly", (TaskSpec(task_key="main"),))


def test_client_secrets_do_not_show_in_repr() -> None:
    assert "s3cret" not in repr(Client(id="c", secret="s3cret"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speed = ", "not valid TOML"),
        ("sped = 2", "unknown field `sped`"),
        ("speed = 0", "Expected `float` > 0.0"),
        ('[jobs.etl]\njob_id = "x"', "jobs.etl: Expected `int`, got `str` - at `$.job_id`"),
        ("[jobs.a]\njob_id = 1\n[jobs.b]\njob_id = 1", "duplicate job_id 1"),
        (
            '[jobs.a]\njob_id = 1\n[[jobs.a.tasks]]\ntask_key = "t"\ndepends_on = ["u"]',
            "jobs.a: task 't' depends on 'u', which is not a task",
        ),
        (
            '[jobs.a]\njob_id = 1\n[[jobs.a.tasks]]\ntask_key = "t"\ndepends_on = ["t"]',
            "cycle",
        ),
        (
            '[jobs.a]\njob_id = 1\n[[jobs.a.tasks]]\ntask_key = "t"\n'
            '[[jobs.a.tasks]]\ntask_key = "t"',
            "duplicate task_key 't'",
        ),
        (
            '[jobs.a]\njob_id = 1\noutcome = "MAYBE"',
            "jobs.a: Invalid enum value 'MAYBE' - at `$.outcome`",
        ),
        ('[jobs.a]\njob_id = 1\n[[jobs.a.tasks]]\ntask_key = "t"\ntype = "r"', "jobs.a"),
    ],
)
def test_a_bad_file_is_a_one_line_value_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=r"^[^\n]*$") as raised:
        load_scenario(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_missing_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.toml")


def test_scenarios_can_be_built_in_python() -> None:
    scenario = Scenario(jobs={"x": JobSpec(job_id=5, max_concurrent_runs=2)})
    assert scenario.jobs["x"].name == "x"
