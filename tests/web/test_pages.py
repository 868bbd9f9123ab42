"""The dashboard's files and the browser client, served from the package as they are."""

from __future__ import annotations

import re

import pytest

from service.web.pages import PAGES, STATIC
from tests.factories import make_client, make_settings, upstream_router


@pytest.mark.parametrize(("path", "name", "media_type"), [(p, *v) for p, v in PAGES.items()])
async def test_each_file_is_served_with_its_type_and_a_strict_policy(path, name, media_type):
    async with make_client(make_settings(), upstream_router()) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.content == (STATIC / name).read_bytes()
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy


def test_every_file_of_static_is_served_and_every_served_file_exists():
    names = {entry.name for entry in STATIC.iterdir()}
    assert names == {name for name, _ in PAGES.values()}


def test_the_pages_import_only_served_modules_by_relative_paths():
    served = set(PAGES)
    for name, media_type in PAGES.values():
        if not media_type.startswith(("text/javascript", "text/html")):
            continue
        text = (STATIC / name).read_text()
        imported = re.findall(r'(?:from|src=|href=)\s*"([^"]+)"', text)
        for target in imported:
            if target.startswith(("data:", "#")):  # an inline icon, a link within the page
                continue
            assert not target.startswith(("/", "http")), f"{name}: {target} is not relative"
            assert "/" + target.removeprefix("./") in served, f"{name}: {target} is not served"


async def test_unknown_paths_and_writes_to_a_page_stay_json_errors():
    async with make_client(make_settings(), upstream_router()) as client:
        missing = await client.get("/dashboard.html")
        written = await client.post("/")
    assert (missing.status_code, missing.json()["code"]) == (404, "HTTP_404")
    assert (written.status_code, written.json()["code"]) == (405, "HTTP_405")


async def test_an_unchanged_file_costs_a_304():
    async with make_client(make_settings(), upstream_router()) as client:
        first = await client.get("/client.js")
        again = await client.get("/client.js", headers={"If-None-Match": first.headers["etag"]})
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304


def test_the_client_and_its_types_name_the_same_functions():
    client = (STATIC / "client.js").read_text()
    types = (STATIC / "client.d.ts").read_text()
    methods = {"jobs", "trigger", "watch", "job", "status", "runs", "run", "output", "cancel"}
    methods |= {"repair", "rerun", "cancelAll", "allRuns"}
    exported = re.search(r"export const \{([^}]+)\} = defaults;", client)
    assert exported is not None
    assert {name.strip() for name in exported.group(1).split(",")} - {""} == methods
    for name in methods:
        assert re.search(rf"^  {name}\(", types, re.M), f"client.d.ts lacks {name}"
        assert f'export const {name}: Client["{name}"];' in types
