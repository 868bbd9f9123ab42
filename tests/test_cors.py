"""CORS for `[access] cors_origins`: allowed origins answered, no Access-Control-* for others."""

from __future__ import annotations

import pytest

from service.config import load_settings
from service.cors import checked_origins
from service.errors import ConfigError
from tests.factories import HOST, TOKEN, make_client, make_run, make_settings

APP = "https://app.example.com"
EVIL = "https://evil.example"
KEY = "k" * 24


def cors_settings(tmp_path, origins: str = f'["{APP}"]', mode: str = "token"):
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_TOKEN": TOKEN,
        "ACCESS_MODE": mode,
        "SIDECAR_API_KEYS": f"web:{KEY}",
    }
    toml = f"[access]\ncors_origins = {origins}\n[jobs.etl]\njob_id = 101\n"
    return make_settings(toml, environ=environ, tmp_path=tmp_path)


def preflight(origin: str, method: str = "POST", headers: str = "content-type,idempotency-key"):
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


def listed(header: str) -> set[str]:
    return {item.strip().lower() for item in header.split(",")}


def access_control(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def test_a_preflight_from_an_allowed_origin_is_answered(tmp_path, upstream):
    async with make_client(cors_settings(tmp_path), upstream) as client:
        response = await client.options(
            "/api/jobs/etl/run",
            headers=preflight(
                APP, headers="authorization,content-type,idempotency-key,last-event-id,x-request-id"
            ),
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = listed(response.headers["access-control-allow-headers"])
    assert {"authorization", "idempotency-key", "last-event-id", "x-request-id"} <= allowed
    assert {"post", "delete", "get"} <= listed(response.headers["access-control-allow-methods"])
    assert not upstream.calls


async def test_a_preflight_from_another_origin_is_403_without_access_control_headers(
    tmp_path, upstream
):
    async with make_client(cors_settings(tmp_path), upstream) as client:
        response = await client.options("/api/jobs/etl/run", headers=preflight(EVIL))
    assert response.status_code == 403
    assert response.json()["code"] == "CROSS_ORIGIN"
    assert access_control(response) == {}


async def test_an_allowed_origins_responses_expose_the_headers_a_page_reads(tmp_path, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    headers = {"origin": APP, "authorization": f"Bearer {KEY}"}
    async with make_client(cors_settings(tmp_path), upstream) as client:
        response = await client.get("/api/jobs/etl/runs/5", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    exposed = listed(response.headers["access-control-expose-headers"])
    assert exposed == {
        "x-request-id",
        "retry-after",
        "idempotency-key",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    }


async def test_a_401_to_an_allowed_origin_carries_cors_so_the_page_can_read_it(tmp_path, upstream):
    async with make_client(cors_settings(tmp_path), upstream) as client:
        response = await client.get("/api/jobs/etl/status", headers={"origin": APP})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP


async def test_another_origins_requests_get_no_access_control_headers(tmp_path, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    headers = {"origin": EVIL, "authorization": f"Bearer {KEY}"}
    async with make_client(cors_settings(tmp_path), upstream) as client:
        read = await client.get("/api/jobs/etl/runs/5", headers=headers)
    assert read.status_code == 200  # served (a browser will not show it to the page)
    assert access_control(read) == {}


async def test_without_cors_origins_every_preflight_is_refused(tmp_path, upstream):
    async with make_client(cors_settings(tmp_path, origins="[]"), upstream) as client:
        response = await client.options("/api/jobs/etl/run", headers=preflight(APP))
    assert response.status_code == 403
    assert access_control(response) == {}


REFUSED_PREFLIGHTS = {
    "method": (
        {"method": "PUT"},
        "CORS preflight refused: method PUT is not allowed (allowed: GET, POST, DELETE)",
    ),
    "header": (
        {"headers": "content-type,x-evil"},
        "CORS preflight refused: headers x-evil are not allowed (allowed: Content-Type, "
        "Idempotency-Key, Last-Event-ID, X-Request-Id, Authorization)",
    ),
    "both": (
        {"method": "PATCH", "headers": "x-a, X-B"},
        "CORS preflight refused: method PATCH is not allowed (allowed: GET, POST, DELETE); "
        "headers x-a, X-B are not allowed (allowed: Content-Type, Idempotency-Key, "
        "Last-Event-ID, X-Request-Id, Authorization)",
    ),
}


@pytest.mark.parametrize("origins", [f'["{APP}"]', '["*"]'], ids=["explicit", "star"])
@pytest.mark.parametrize(
    ("asked", "message"), REFUSED_PREFLIGHTS.values(), ids=REFUSED_PREFLIGHTS.keys()
)
async def test_an_allowed_origins_preflight_asking_too_much_is_a_json_400_naming_it(
    tmp_path, upstream, origins, asked, message
):
    async with make_client(cors_settings(tmp_path, origins=origins), upstream) as client:
        response = await client.options("/api/jobs/etl/run", headers=preflight(APP, **asked))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": message, "code": "BAD_REQUEST", "plugin": "jobs"}
    # The CORS headers stay: the browser's console says what is allowed.
    assert "POST" in response.headers["access-control-allow-methods"]
    assert not upstream.calls


async def test_a_private_network_preflight_is_a_json_400(tmp_path, upstream):
    headers = {**preflight(APP), "access-control-request-private-network": "true"}
    async with make_client(cors_settings(tmp_path), upstream) as client:
        response = await client.options("/api/jobs/etl/run", headers=headers)
    assert (response.status_code, response.json()["error"]) == (
        400,
        "CORS preflight refused: private network access is not allowed",
    )


async def test_a_star_allows_every_origin_to_read_without_credentials(tmp_path, upstream):
    settings = cors_settings(tmp_path, origins='["*"]')
    async with make_client(settings, upstream) as client:
        response = await client.options("/api/jobs/etl/status", headers=preflight(EVIL, "GET"))
        write = await client.post(
            "/api/jobs/etl/run",
            headers={
                "origin": EVIL,
                "authorization": f"Bearer {KEY}",
                "sec-fetch-site": "cross-site",
            },
        )
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    assert settings.allowed_origins == ()  # `*` opens reads, never writes
    assert write.status_code == 403
    assert write.json()["code"] == "CROSS_ORIGIN"


async def test_an_allowed_origin_may_write_cross_site(tmp_path, upstream):
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    headers = {"origin": APP, "sec-fetch-site": "cross-site", "authorization": f"Bearer {KEY}"}
    async with make_client(cors_settings(tmp_path), upstream) as client:
        response = await client.post("/api/jobs/etl/run", json={}, headers=headers)
    assert response.json() == {"runId": 7}
    assert response.headers["access-control-allow-origin"] == APP
    assert run_now.called


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com:443/", "https://app.example.com"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("*", "*"),
    ],
)
def test_an_origin_is_kept_as_a_browser_writes_it(raw, origin):
    assert checked_origins([raw]) == (origin,)


@pytest.mark.parametrize(
    "raw",
    [
        "app.example.com",
        "ftp://app.example.com",
        "https://app.example.com/path",
        "https://user@app.example.com",
        "https://app.example.com?x=1",
        "https://app.example.com:99999",
        "https://",
        "null",
    ],
)
def test_anything_but_an_origin_stops_start_up_naming_it(tmp_path, raw):
    path = tmp_path / "jobs.toml"
    path.write_text(f'[access]\ncors_origins = ["{raw}"]\n')
    with pytest.raises(ConfigError, match="cors_origins") as refused:
        load_settings({"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN}, path)
    assert repr(raw) in str(refused.value)


def test_a_star_stands_alone():
    with pytest.raises(ValueError, match="stands alone"):
        checked_origins(["*", APP])


def test_the_explicit_origins_feed_the_cross_site_guard(tmp_path):
    settings = cors_settings(
        tmp_path, origins='["https://App.example.com:443", "http://localhost:5173"]'
    )
    assert settings.allowed_origins == ("https://app.example.com", "http://localhost:5173")
