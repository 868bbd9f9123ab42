"""Per-job rules: which names an entry matches, run implying view, and what the file accepts."""

from __future__ import annotations

import pytest

from service.callers import ANONYMOUS, Caller
from service.errors import ConfigError
from service.permissions import may_run, may_view, names
from service.settings_file import JobAccess
from tests.factories import make_settings


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
