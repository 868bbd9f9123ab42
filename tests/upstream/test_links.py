"""Links from Databricks reach clients only when they are http(s) URLs."""

from __future__ import annotations

import msgspec
import pytest

from service.upstream.links import is_web_link, web_links_only
from tests.factories import HOST, make_run, make_task

UNSAFE = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/run",
    "/relative/run",
    "https:/no-host",
    "",
]


@pytest.mark.parametrize(
    "url", [f"{HOST}/?o=1#job/1/run/2", "http://127.0.0.1:8001/?o=1#job/1/run/2", "HTTPS://W.X/"]
)
def test_an_http_or_https_url_is_a_web_link(url):
    assert is_web_link(url)


@pytest.mark.parametrize("url", UNSAFE)
def test_anything_else_is_not(url):
    assert not is_web_link(url)


def test_a_reply_of_web_links_is_passed_on_as_the_same_bytes():
    body = msgspec.json.encode(make_run(7, tasks=[make_task("a", 8) | {"run_page_url": HOST}]))
    assert web_links_only(body) is body


@pytest.mark.parametrize("url", UNSAFE)
def test_an_unsafe_link_of_a_run_or_of_its_tasks_is_removed(url):
    task = make_task("a", 8) | {"run_page_url": url}
    run = make_run(7, tasks=[task, make_task("b", 9) | {"run_page_url": HOST}], run_page_url=url)
    cleaned = msgspec.json.decode(web_links_only(msgspec.json.encode({"runs": [run]})))
    (kept,) = cleaned["runs"]
    assert "run_page_url" not in kept
    assert "run_page_url" not in kept["tasks"][0]
    assert kept["tasks"][1]["run_page_url"] == HOST
    assert kept["state"] == run["state"]  # the rest as sent


def test_a_link_spelt_otherwise_is_checked_and_kept_when_it_is_a_web_link():
    body = b'{"run_id": 7, "job_id": 1, "run_page_url" : "\\u0068ttps://w.x/r"}'
    assert msgspec.json.decode(web_links_only(body))["run_page_url"] == "https://w.x/r"


def test_a_body_that_is_not_json_is_left_to_the_decoder():
    assert web_links_only(b'{"run_page_url": "javascript:') == b'{"run_page_url": "javascript:'
