"""Each error is one line and an exit code: 2 for a refusal, 3 when the outcome is not known."""

from __future__ import annotations

import pytest

from service.client import (
    BadRequest,
    FieldError,
    NotFound,
    OutcomeUnknown,
    ServiceFailed,
    Unauthenticated,
    Unreachable,
    WatchFailed,
)
from service.remote_cli.exits import REFUSED, UNREACHABLE, explain

URL = "http://127.0.0.1:8000"


def test_bad_parameters_name_each_field():
    fields = (
        FieldError("run_date", "Invalid RFC3339 encoded date"),
        FieldError("env", "Invalid enum value 'qa'"),
    )
    error = BadRequest(400, "BAD_REQUEST", "Parameter validation failed", fields=fields)
    assert explain(error, url=URL, api_key_set=False) == (
        REFUSED,
        "parameter run_date: Invalid RFC3339 encoded date; parameter env: Invalid enum value 'qa'",
    )


def test_a_refusal_says_status_code_and_message():
    error = NotFound(404, "UNKNOWN_JOB", 'Unknown job "nope"')
    assert explain(error, url=URL, api_key_set=False) == (
        REFUSED,
        '404 UNKNOWN_JOB: Unknown job "nope"',
    )


@pytest.mark.parametrize(
    ("api_key_set", "hint"),
    [(False, "(set SIDECAR_API_KEY)"), (True, "(SIDECAR_API_KEY was not accepted)")],
)
def test_no_caller_names_the_setting(api_key_set, hint):
    error = Unauthenticated(401, "UNAUTHENTICATED", "Missing or invalid API key")
    code, line = explain(error, url=URL, api_key_set=api_key_set)
    assert code == REFUSED
    assert line.endswith(hint)


def test_an_unknown_outcome_prints_the_key_to_retry_with():
    error = OutcomeUnknown(0, "NETWORK", "no answer (reset)", idempotency_key="k-7")
    code, line = explain(error, url=URL, api_key_set=False)
    assert code == UNREACHABLE
    assert "--idempotency-key k-7" in line


def test_an_unreachable_service_names_the_url_and_its_settings():
    code, line = explain(Unreachable("could not connect (refused)"), url=URL, api_key_set=False)
    assert code == UNREACHABLE
    assert (
        line
        == f"cannot reach the service at {URL} (--url or SIDECAR_URL): could not connect (refused)"
    )


def test_a_failed_write_that_did_nothing_still_gives_its_key():
    error = ServiceFailed(503, "UNAVAILABLE", "The service is shutting down", idempotency_key="k-8")
    assert explain(error, url=URL, api_key_set=False) == (
        UNREACHABLE,
        "503 UNAVAILABLE: The service is shutting down; retry with --idempotency-key k-8",
    )


def test_a_stream_s_error_is_an_unknown_outcome_for_the_run():
    code, line = explain(
        WatchFailed(0, "WAIT_TIMEOUT", "Run 4 did not finish"), url=URL, api_key_set=False
    )
    assert (code, line) == (
        UNREACHABLE,
        "following the run failed: WAIT_TIMEOUT: Run 4 did not finish",
    )
