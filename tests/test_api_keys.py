"""API keys: parsed from the environment and a file, never shown, found in constant time."""

from __future__ import annotations

import pytest

from service.api_keys import KeyRing, load_api_keys
from service.errors import ConfigError

ALICE = "alice:" + "a" * 24
BOB = "bob-ci:" + "b" * 32


def test_keys_come_from_the_environment_and_the_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# team keys\n{BOB}\n\n")
    keys = load_api_keys({"SIDECAR_API_KEYS": f" {ALICE} ,"}, str(path))
    assert [key.name for key in keys] == ["alice", "bob-ci"]
    assert keys[0].secret.value == "a" * 24
    assert "a" * 24 not in repr(keys)  # masked wherever shown


@pytest.mark.parametrize(
    ("raw", "refusal"),
    [
        ("alice", "expected name:secret"),
        (":" + "x" * 20, "expected name:secret"),
        ("al ice:" + "x" * 20, "expected name:secret"),
        ("alice:short-secret", "at least 16 characters"),
        (f"{ALICE},{ALICE.replace('a' * 24, 'c' * 24)}", "given twice"),
    ],
)
def test_a_bad_key_is_refused_without_showing_its_secret(raw, refusal):
    with pytest.raises(ConfigError, match=refusal) as raised:
        load_api_keys({"SIDECAR_API_KEYS": raw}, None)
    assert "x" * 20 not in str(raised.value)
    assert "short-secret" not in str(raised.value)


def test_a_missing_key_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"api_keys_file .*missing"):
        load_api_keys({}, str(tmp_path / "missing"))


def test_the_ring_names_the_key_and_nothing_else():
    ring = KeyRing(load_api_keys({"SIDECAR_API_KEYS": f"{ALICE},{BOB}"}, None))
    assert ring.name_of("b" * 32) == "bob-ci"
    assert ring.name_of("a" * 24) == "alice"
    assert ring.name_of("a" * 23) is None
    assert ring.name_of("") is None
