"""Who is calling: each access mode over the app, the probes public, forged headers ignored."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.config import load_settings
from service.errors import ConfigError
from tests.factories import JOB_IDS, advance, log_lines, make_settings, transport

KEY = "k" * 24
UNAUTHENTICATED = "UNAUTHENTICATED"


@asynccontextmanager
async def calling(settings, upstream, *, peer="127.0.0.1"):
    app = create_app(settings, upstream=transport(upstream))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app, client=(peer, 40000)),
            base_url="http://sidecar.test",
        ) as client,
    ):
        yield client


def settings_for(mode: str, **environ: str):
    env = {
        "DATABRICKS_HOST": "https://example.cloud.databricks.com",
        "DATABRICKS_TOKEN": "dapi-test",
        "DATABRICKS_JOB_ETL": str(JOB_IDS["etl"]),
        "ACCESS_MODE": mode,
        **environ,
    }
    return make_settings(environ=env)


async def test_token_mode_lets_a_known_key_in_and_refuses_others(upstream):
    settings = settings_for("token", SIDECAR_API_KEYS=f"ci-bot:{KEY}")
    async with calling(settings, upstream) as client:
        ok = await client.get("/api/jobs", headers={"authorization": f"Bearer {KEY}"})
        missing = await client.get("/api/jobs")
        wrong = await client.get("/api/jobs", headers={"authorization": "Bearer x" * 3})
        basic = await client.get("/api/jobs", headers={"authorization": f"Basic {KEY}"})
    assert ok.status_code == 200
    for refused in (missing, wrong, basic):
        assert refused.status_code == 401
        assert refused.json()["code"] == UNAUTHENTICATED
        assert refused.headers["www-authenticate"] == 'Bearer realm="jobs-sidecar"'
        assert KEY not in refused.text
    assert [job["key"] for job in ok.json()["jobs"]] == ["etl"]


async def test_apps_mode_believes_the_proxy_and_only_a_trusted_one(upstream):
    settings = settings_for("apps")
    named = {"x-forwarded-email": "alice@example.com"}
    async with calling(settings, upstream, peer="10.1.2.3") as client:
        ok = await client.get("/api/jobs", headers=named)
        anonymous = await client.get("/api/jobs")
    async with calling(settings, upstream, peer="203.0.113.9") as client:
        forged = await client.get("/api/jobs", headers=named)
    assert ok.status_code == 200
    assert (anonymous.status_code, forged.status_code) == (401, 401)
    assert forged.json()["code"] == UNAUTHENTICATED
    assert "www-authenticate" not in forged.headers


@pytest.mark.parametrize(
    ("peer", "status"),
    [("::ffff:10.1.2.3", 200), ("::ffff:127.0.0.1", 200), ("::ffff:203.0.113.9", 401)],
)
async def test_an_ipv4_mapped_peer_is_matched_as_the_ipv4_address_it_is(upstream, peer, status):
    # On a dual-stack socket (HOST=::) an IPv4 proxy's connections arrive as ::ffff:a.b.c.d.
    settings = settings_for("apps")
    async with calling(settings, upstream, peer=peer) as client:
        response = await client.get("/api/jobs", headers={"x-forwarded-email": "a@example.com"})
    assert response.status_code == status


@pytest.mark.parametrize(
    ("email", "caller"),
    [("Alice@Example.COM", "alice@example.com"), ("alice@example.com", "alice@example.com")],
)
async def test_the_proxy_s_name_for_the_user_is_spelt_one_way(upstream, json_logs, email, caller):
    settings = settings_for("apps")
    async with calling(settings, upstream) as client:
        refused = await client.post("/api/jobs/nosuch/run", headers={"x-forwarded-email": email})
    (line,) = [line for line in log_lines(json_logs) if line["event"] == "audit"]
    assert refused.status_code == 404
    assert line["caller"] == caller


async def test_a_user_token_no_proxy_vouches_for_is_a_warning_once_a_minute(upstream, json_logs):
    settings = settings_for("token", SIDECAR_API_KEYS=f"ci-bot:{KEY}")
    headers = {"authorization": f"Bearer {KEY}", "x-forwarded-access-token": "eyJ.user.token"}
    async with calling(settings, upstream) as client:
        for _ in range(3):
            await client.get("/api/jobs", headers=headers)
        said = log_lines(json_logs)
        await advance(61)
        await client.get("/api/jobs", headers=headers)
        said_again = log_lines(json_logs)
    ignored = "request.forwarded_token_ignored"
    assert [line["ignored"] for line in said if line["event"] == ignored] == [1]
    assert [line["ignored"] for line in said_again if line["event"] == ignored] == [3]
    assert "eyJ.user.token" not in str(said + said_again)


async def test_the_probes_the_dashboard_s_files_and_open_metrics_need_no_caller(upstream):
    settings = settings_for("token", SIDECAR_API_KEYS=f"ci-bot:{KEY}")
    async with calling(settings, upstream) as client:
        probes = [
            await client.get(path)
            for path in ("/livez", "/readyz", "/metrics", "/", "/client.js", "/docs")
        ]
        asset = await client.get("/docs/assets/swagger-ui.css")
        document = await client.get("/openapi.json")
        jobs = await client.get("/api/jobs")
    assert [r.status_code for r in probes] == [200] * 6
    assert asset.status_code == 200
    assert document.status_code == 401  # it names the jobs: only for callers
    assert jobs.status_code == 401


async def test_metrics_behind_auth_when_asked(upstream, tmp_path):
    path = tmp_path / "jobs.toml"
    path.write_text('[access]\nmetrics = "auth"\n')
    env = {
        "DATABRICKS_HOST": "https://example.cloud.databricks.com",
        "DATABRICKS_TOKEN": "dapi-test",
        "ACCESS_MODE": "token",
        "SIDECAR_API_KEYS": f"ops:{KEY}",
        "ALLOWED_HOSTS": "sidecar.test",
    }
    settings = load_settings(env, path)
    async with calling(settings, upstream) as client:
        refused = await client.get("/metrics")
        allowed = await client.get("/metrics", headers={"authorization": f"Bearer {KEY}"})
        live = await client.get("/livez")
    assert (refused.status_code, allowed.status_code, live.status_code) == (401, 200, 200)


def test_an_unknown_mode_or_a_bad_proxy_range_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match="ACCESS_MODE must be one of apps, token, open"):
        settings_for("nobody")
    path = tmp_path / "jobs.toml"
    path.write_text('[access]\ntrusted_proxies = ["10.0.0.0/33"]\n')
    with pytest.raises(ConfigError, match=r"\[access\] trusted_proxies: '10.0.0.0/33'"):
        load_settings({"DATABRICKS_HOST": "h", "DATABRICKS_TOKEN": "t"}, path)
