"""Rotating API keys: the key file is re-read when it changes, and a bad new file keeps the old
keys; the time between checks runs on the loop clock (driven here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.api_keys import load_api_keys
from service.clock import LoopClock
from service.key_rotation import CHECK_EVERY_S, RotatingKeys
from tests.factories import advance, log_lines

OLD, NEW, FIXED = "o" * 24, "n" * 24, "f" * 24


def write(path: Path, text: str) -> None:
    """As a rotation should: a new file renamed over the old one."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    fresh.chmod(0o600)
    os.replace(fresh, path)


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "keys"
    write(path, f"ci:{OLD}\n")
    return path


def rotating(key_file: Path) -> RotatingKeys:
    keys = load_api_keys({"SIDECAR_API_KEYS": f"ops:{FIXED}"}, str(key_file))
    return RotatingKeys(keys, key_file, clock=LoopClock())


async def test_a_replaced_file_is_read_at_the_next_check(key_file):
    keys = rotating(key_file)
    assert keys.name_of(OLD) == "ci"
    write(key_file, f"ci:{NEW}\n")
    await advance(CHECK_EVERY_S / 2)
    assert keys.name_of(NEW) is None  # not checked yet: at most one stat a second
    await advance(CHECK_EVERY_S)
    assert (keys.name_of(NEW), keys.name_of(OLD), keys.name_of(FIXED)) == ("ci", None, "ops")


async def test_an_unchanged_file_is_not_read_again(key_file, json_logs):
    keys = rotating(key_file)
    keys.name_of(OLD)
    await advance(CHECK_EVERY_S * 3)
    key_file.chmod(0o000)  # a read would fail now; a stat does not
    assert keys.name_of(OLD) == "ci"
    assert [line["event"] for line in log_lines(json_logs)] == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ci:short\n", "the secret must be at least 16 characters"),
        (f"ops:{NEW}\n", "the key name 'ops' is given twice"),
        ("# nothing here\n", "has no keys"),
        (None, "No such file or directory"),
    ],
    ids=["bad line", "a name of the environment", "no keys", "removed"],
)
async def test_a_bad_new_file_keeps_the_keys_in_force_and_says_why(
    key_file, json_logs, text, reason
):
    keys = rotating(key_file)
    keys.name_of(OLD)
    if text is None:
        key_file.unlink()
    else:
        write(key_file, text)
    await advance(CHECK_EVERY_S + 0.1)
    assert (keys.name_of(OLD), keys.name_of(FIXED)) == ("ci", "ops")
    (line,) = log_lines(json_logs)
    assert (line["event"], line["level"], line["kept"]) == ("api_keys.reload_failed", "warning", 2)
    assert reason in line["reason"]
    assert "ci:short" not in str(line)  # a secret, even a bad one, is never shown


async def test_a_fixed_file_is_taken_after_a_bad_one(key_file, json_logs):
    keys = rotating(key_file)
    keys.name_of(OLD)
    write(key_file, "ci:short\n")
    await advance(CHECK_EVERY_S + 0.1)
    keys.name_of(OLD)
    write(key_file, f"ci:{NEW}\nci2:{OLD}\n")
    await advance(CHECK_EVERY_S + 0.1)
    assert (keys.name_of(NEW), keys.name_of(OLD)) == ("ci", "ci2")
    events = [(line["event"], line.get("keys")) for line in log_lines(json_logs)]
    assert events == [("api_keys.reload_failed", None), ("api_keys.reloaded", ["ops", "ci", "ci2"])]


async def test_a_new_file_others_may_read_is_taken_with_a_warning(key_file, json_logs):
    keys = rotating(key_file)
    keys.name_of(OLD)
    write(key_file, f"ci:{NEW}\n")
    key_file.chmod(0o644)
    await advance(CHECK_EVERY_S + 0.1)
    assert keys.name_of(NEW) == "ci"
    warning, reloaded = log_lines(json_logs)
    assert (warning["event"], warning["level"]) == ("config.warning", "warning")
    assert "is open to other users (mode 644)" in warning["message"]
    assert reloaded["event"] == "api_keys.reloaded"
