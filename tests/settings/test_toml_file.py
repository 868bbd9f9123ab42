"""The settings file's declarations: defaults, bounds, the descriptions check-config shows,
and errors named by file and path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.basics.errors import ConfigError
from service.settings.config import describe, load_settings
from tests.factories import load_toml


def test_serving_limits_default_and_come_from_the_file(tmp_path):
    defaults = load_toml(tmp_path)
    assert (defaults.max_body_bytes, defaults.drain_delay_ms) == (65_536, 0)
    assert (defaults.header_timeout_ms, defaults.body_timeout_ms) == (10_000, 30_000)
    assert defaults.dead_peer_timeout_ms == 120_000
    toml = "max_body_bytes = 1024\ndrain_delay_ms = 5000\nheader_timeout_ms = 2000\n"
    settings = load_toml(tmp_path, toml + "body_timeout_ms = 3000\ndead_peer_timeout_ms = 60000\n")
    assert (settings.max_body_bytes, settings.drain_delay_ms) == (1024, 5000)
    assert (settings.header_timeout_ms, settings.body_timeout_ms) == (2000, 3000)
    assert settings.dead_peer_timeout_ms == 60_000
    assert load_toml(tmp_path, "drain_delay_ms = 0").drain_delay_ms == 0


def test_poll_floor_below_one_second_is_refused(tmp_path):
    path = tmp_path / "jobs.toml"
    path.write_text("poll_floor_ms = 50\n")
    refused = re.escape("Expected `int` >= 1000 - at `$.poll_floor_ms` (poll_floor_ms: never")
    with pytest.raises(ConfigError, match=refused):
        load_settings({"DATABRICKS_HOST": "https://x", "DATABRICKS_TOKEN": "t"}, path)
    path.write_text("poll_floor_ms = 5000\n")  # raising it is fine
    environ = {"DATABRICKS_HOST": "https://x", "DATABRICKS_TOKEN": "t"}
    assert load_settings(environ, path).poll_floor_ms == 5000


def test_idempotency_keys_are_kept_a_day_by_default_and_can_be_tuned(tmp_path):
    default = load_toml(tmp_path)
    tuned = load_toml(tmp_path, "idempotency_ttl_ms = 3600000\nidempotency_max_keys = 500\n")
    assert (default.idempotency_ttl_ms, default.idempotency_max_keys) == (86_400_000, 20_000)
    assert (tuned.idempotency_ttl_ms, tuned.idempotency_max_keys) == (3_600_000, 500)


def test_check_config_shows_every_setting_of_the_file_with_its_value_and_meaning(tmp_path):
    """Every setting config/jobs.toml documents is shown, with a description, and nothing else."""
    documented = _documented(Path("config/jobs.toml").read_text())
    shown = describe(load_toml(tmp_path, "idempotency_max_keys = 500\n", DATABRICKS_JOB_ETL="7"))
    assert {name: shown[name] for name in ("idempotency_max_keys", "drain_delay_ms")} == {
        "idempotency_max_keys": 500,
        "drain_delay_ms": 0,
    }
    assert shown["access"]["metrics"] == "open"
    assert shown["limits"]["streams_per_caller"] == 100
    assert shown["jobs"]["etl"]["wait_timeout_ms"] == 600_000
    assert shown["jobs"]["etl"]["access"] == {"run": ("*",), "view": ("*",)}
    for name in documented:  # each documented setting has a value shown
        value = shown
        for part in name.split("."):
            value = value["etl" if part == "<key>" else part]
    described = shown["descriptions"]
    assert documented | {"jobs.<key>.params"} == set(described)
    assert all(len(text) > 10 for text in described.values())


def _documented(text: str) -> set[str]:
    """`# name = ...` lines, dotted by the `# [table]` they sit under (jobs.etl → jobs.<key>)."""
    names, table = set(), ""
    for line in text.splitlines():
        if header := re.match(r"^# \[([a-z_.]+)\]", line):
            table = re.sub(r"^jobs\.[a-z_]+", "jobs.<key>", header[1])
        elif setting := re.match(r"^# ([a-z_]+) = ", line):
            names.add(f"{table}.{setting[1]}" if table else setting[1])
    return {name for name in names if not name.startswith("jobs.<key>.params.")}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[jobs.etl]\nwait_timeout_ms = 0", "`int` >= 1 - at `$.jobs.etl.wait_timeout_ms`"),
        ("[jobs.etl]\nwait_timeout_ms = 1.5", "`int`, got `float` - at `$.jobs.etl."),
        ("jobs = 3", "`object`, got `int` - at `$.jobs`"),
        ("[jobs]\netl = 3", "`object`, got `int` - at `$.jobs.etl`"),
        ('[jobs.etl]\nparams = "x"', "`object | null`, got `str` - at `$.jobs.etl.params`"),
    ],
)
def test_a_bad_value_is_named_by_file_and_path(tmp_path, toml, message):
    with pytest.raises(ConfigError) as raised:
        load_toml(tmp_path, toml)
    assert str(raised.value).startswith(f"{tmp_path / 'jobs.toml'}: Expected {message}")
