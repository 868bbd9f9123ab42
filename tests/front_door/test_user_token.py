"""The user's token as the proxy forwards it: taken as sent, and refused closed when absent."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from service.basics.errors import MissingUserToken, error_body
from service.front_door.user_token import forwarded_token


def test_the_forwarded_token_is_the_header_s_value_trimmed():
    headers = Headers({"X-Forwarded-Access-Token": "  eyJ.user.token \t"})
    assert forwarded_token(headers) == "eyJ.user.token"


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-forwarded-access-token": ""}, {"x-forwarded-access-token": "   "}],
    ids=["absent", "empty", "blank"],
)
def test_no_token_is_a_401_that_names_the_header(headers):
    with pytest.raises(MissingUserToken) as caught:
        forwarded_token(Headers(headers))
    assert caught.value.status == 401
    body = error_body(caught.value)
    assert body["code"] == "UNAUTHENTICATED"
    assert body["plugin"] == "jobs"
    assert "X-Forwarded-Access-Token is required" in body["error"]


def test_another_authorization_header_is_not_taken_for_the_user_s_token():
    with pytest.raises(MissingUserToken):
        forwarded_token(Headers({"authorization": "Bearer dapi-service-token"}))
