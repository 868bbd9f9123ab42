"""A caller has one name: e-mail addresses are case-folded where the caller is found."""

from __future__ import annotations

import pytest

from service.callers import ANONYMOUS, PROGRAM, Caller, named


@pytest.mark.parametrize("raw", ["alice@example.com", "Alice@example.com", "aLice@Example.COM"])
def test_every_spelling_of_an_address_is_one_caller(raw):
    assert named(raw) == Caller("alice@example.com")


@pytest.mark.parametrize("raw", ["ci-bot", "CI-Bot", "anonymous"])
def test_a_name_that_is_no_address_is_kept_as_written(raw):
    # API key names and X-Forwarded-User names are compared exactly, as the access rules do.
    assert named(raw).name == raw


def test_the_built_in_callers_are_spelt_as_named_would_spell_them():
    assert (named(ANONYMOUS.name), named(PROGRAM.name)) == (ANONYMOUS, PROGRAM)
