"""API keys: parsed from the environment and a file, never shown, found in constant time."""

from __future__ import annotations

import pytest

from service.api_keys import KeyRing, load_api_keys, loose_permissions
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


def test_a_key_named_by_an_address_is_the_caller_it_names_in_one_spelling():
    keys = load_api_keys({"SIDECAR_API_KEYS": "Alice@Example.com:" + "a" * 24}, None)
    assert [key.name for key in keys] == ["alice@example.com"]


def test_two_spellings_of_one_address_are_one_name_given_twice(tmp_path):
    path = tmp_path / "keys"
    path.write_text("alice@example.com:" + "b" * 24 + "\n")
    with pytest.raises(ConfigError, match=r"'alice@example\.com' is given twice"):
        load_api_keys({"SIDECAR_API_KEYS": "ALICE@example.com:" + "a" * 24}, str(path))


def test_keys_of_the_file_say_so_and_those_of_the_environment_do_not(tmp_path):
    path = tmp_path / "keys"
    path.write_text(BOB + "\n")
    keys = load_api_keys({"SIDECAR_API_KEYS": ALICE}, str(path))
    assert [(key.name, key.from_file) for key in keys] == [("alice", False), ("bob-ci", True)]


def test_a_key_file_that_is_not_text_is_a_config_error(tmp_path):
    path = tmp_path / "keys"
    path.write_bytes(b"alice:\xff\xfe" + b"a" * 24)
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_api_keys({}, str(path))


@pytest.mark.parametrize(
    ("mode", "warned"), [(0o600, False), (0o400, False), (0o640, True), (0o604, True)]
)
def test_a_key_file_others_may_read_is_warned_about(tmp_path, mode, warned):
    path = tmp_path / "keys"
    path.write_text(ALICE + "\n")
    path.chmod(mode)
    warning = loose_permissions(path)
    assert (warning is not None) == warned
    if warning is not None:
        assert warning == (
            f"api_keys_file {path} is open to other users (mode {mode:o}): anyone who can read "
            "it can call as any of its keys; chmod 600 it"
        )
