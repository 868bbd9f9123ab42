"""The Host names the service answers to: loopback, the bind address, the platform's, the list."""

from __future__ import annotations

import re

import pytest

from service.hosts import HostNames, checked_entries, platform_hosts
from tests.factories import log_lines, make_client, make_settings, upstream_router

OURS = HostNames("127.0.0.1", ("jobs.example.com", "*.apps.example", "10.9.8.7"))


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8000",
        "LocalHost.",
        "127.0.0.1:9",
        "127.5.5.5",
        "[::1]:8000",
        "[::ffff:127.0.0.1]",
        "jobs.example.com:443",
        "a.apps.example",
        "b.a.apps.example",
        "10.9.8.7:8000",
    ],
)
def test_loopback_the_bind_address_and_the_listed_names_are_answered(host):
    assert OURS.allows(host.encode())


@pytest.mark.parametrize(
    "host",
    [
        "rebind.example",
        "rebind.example:8000",
        "apps.example",  # *.apps.example is its subdomains only
        "x.jobs.example.com",
        "localhost.rebind.example",
        "127.0.0.1.rebind.example",
        "10.1.2.3",  # bound to 127.0.0.1: another address is not ours
        "",
        "::1",  # an IPv6 address in Host is bracketed
        "localhost:port",
        "localhost evil",
        "localhost/",
    ],
)
def test_any_other_host_is_not(host):
    assert not OURS.allows(host.encode())


def test_bound_to_every_interface_any_address_is_answered_but_no_other_name():
    everywhere = HostNames("0.0.0.0")
    assert everywhere.allows(b"10.1.2.3:8000")
    assert everywhere.allows(b"[fd00::1]")
    assert not everywhere.allows(b"rebind.example")


def test_a_bind_name_is_answered():
    assert HostNames("sidecar").allows(b"sidecar:8000")


def test_entries_have_one_spelling():
    assert checked_entries(
        ["Jobs.Example.COM.", "[::1]", "*.Apps.Example", "jobs.example.com"]
    ) == (
        "jobs.example.com",
        "::1",
        "*.apps.example",
    )


@pytest.mark.parametrize(
    "entry", ["https://jobs.example.com", "jobs.example.com:80", "*", "a/b", ""]
)
def test_anything_but_a_name_or_address_is_refused_naming_it(entry):
    with pytest.raises(ValueError, match=re.escape(f"allowed_hosts: {entry!r} is not a host")):
        checked_entries([entry])


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, ()),
        ({"DATABRICKS_APP_PORT": "8000"}, ("*.databricksapps.com",)),
        (
            {
                "DATABRICKS_APP_PORT": "8000",
                "DATABRICKS_APP_URL": "https://etl-1234.aws.databricksapps.com/",
            },
            ("*.databricksapps.com", "etl-1234.aws.databricksapps.com"),
        ),
        ({"DATABRICKS_APP_URL": "jobs.example.com"}, ("jobs.example.com",)),
    ],
    ids=["elsewhere", "in Apps", "in Apps with its URL", "a URL without scheme"],
)
def test_databricks_apps_names_come_from_its_environment(environ, names):
    assert platform_hosts(environ) == names


def test_an_app_url_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="DATABRICKS_APP_URL is not a URL"):
        platform_hosts({"DATABRICKS_APP_URL": "https://"})


def test_the_start_up_line_names_every_kind():
    assert HostNames("0.0.0.0", ["jobs.example.com"]).shown() == [
        "localhost",
        "127.0.0.0/8",
        "::1",
        "any IP address",
        "jobs.example.com",
    ]


async def test_another_host_is_421_json_before_routing_and_reaches_nothing(upstream):
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    async with make_client(make_settings(), upstream) as client:
        response = await client.post(
            "/api/jobs/etl/run", json={}, headers={"host": "rebind.example"}
        )
    assert response.status_code == 421
    assert response.json() == {
        "error": "Misdirected request: this service does not answer to that Host name "
        "(names it serves: [access] allowed_hosts)",
        "code": "MISDIRECTED_HOST",
        "plugin": "jobs",
    }
    assert not run_now.called


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/health"])
async def test_the_probes_answer_whatever_host_they_are_sent_with(path):
    async with make_client(make_settings(), upstream_router()) as client:
        response = await client.get(path, headers={"host": "10.42.0.17:8000"})
    assert response.status_code == 200


async def test_a_refused_host_is_logged_so_an_operator_can_add_it(json_logs):
    async with make_client(make_settings(), upstream_router()) as client:
        await client.get("/api/jobs", headers={"host": "proxy.internal:8080"})
    refused = [line for line in log_lines(json_logs) if line["event"] == "request.host_refused"]
    assert [line["host"] for line in refused] == ["proxy.internal:8080"]
