"""Messages and log lines repeat at most about 200 characters of what a client sent."""

from __future__ import annotations

import json
import re

import pytest

from service.basics.echo import echo
from service.basics.errors import InvalidRequest
from service.params.schemas import run_now_fields
from tests.factories import make_client, make_settings

KEY = "k" * 10_000
VALUE = "v" * 10_000
TOML = """
[jobs.etl]
job_id = 101
task_type = "job"
[jobs.etl.params]
env = { type = "str", enum = ["dev", "prod"] }
tags = "list[str]?"

[jobs.raw]
job_id = 102

[jobs.script]
job_id = 103
task_type = "python_script"
"""


def longest_echo(text: str) -> int:
    """The longest run of one repeated letter from KEY or VALUE in `text`."""
    return max((len(run) for run in re.findall(r"k+|v+", text)), default=0)


def test_short_text_is_echoed_whole():
    assert echo("abc") == "abc"


def test_long_text_keeps_its_start_and_its_end():
    clipped = echo("a" * 500 + " - at `$.p`")
    assert len(clipped) == 200
    assert clipped.startswith("a" * 100)
    assert clipped.endswith("…" + "a" * 39 + " - at `$.p`")


REQUESTS = {
    "enum value": ("POST", "/api/jobs/etl/run", {"params": {"env": VALUE}}, {}),
    "unknown param": ("POST", "/api/jobs/etl/run", {"params": {"env": "dev", KEY: 1}}, {}),
    "list item": ("POST", "/api/jobs/etl/run", {"params": {"env": "dev", "tags": [1] * 5000}}, {}),
    "run field": ("POST", "/api/jobs/raw/run", {"params": {KEY: 1}}, {}),
    "task field": ("POST", "/api/jobs/script/run", {"params": {KEY: ["a"]}}, {}),
    "job key": ("POST", f"/api/jobs/{KEY}/run", {}, {}),
    "run id": ("GET", f"/api/jobs/etl/runs/{VALUE}", None, {}),
    "limit": ("GET", f"/api/jobs/etl/runs?limit={VALUE}", None, {}),
    "stream": ("POST", f"/api/jobs/etl/run?stream={VALUE}", {}, {}),
    "idempotency key": ("POST", "/api/jobs/etl/run", {}, {"idempotency-key": VALUE}),
}


@pytest.mark.parametrize(("method", "path", "body", "headers"), REQUESTS.values(), ids=REQUESTS)
async def test_an_error_quotes_at_most_200_characters_of_the_request(
    tmp_path, upstream, method, path, body, headers
):
    settings = make_settings(TOML, tmp_path=tmp_path)
    async with make_client(settings, upstream) as client:
        content = json.dumps(body).encode() if body is not None else None
        response = await client.request(method, path, content=content, headers=headers)
    assert 400 <= response.status_code < 500
    assert longest_echo(response.json()["error"]) <= 200
    assert not upstream.calls


def test_a_param_that_cannot_be_sent_is_named_in_at_most_200_characters():
    with pytest.raises(InvalidRequest) as excinfo:
        run_now_fields("etl", "notebook", {KEY: object()})
    assert longest_echo(excinfo.value.message) <= 200
