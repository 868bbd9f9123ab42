"""The access mode: where it comes from, and the serving it refuses (the one-line reasons)."""

from __future__ import annotations

import pytest

from service.access_mode import is_loopback, resolve_mode
from service.config import check_serving
from service.errors import ConfigError
from service.settings_file import AccessTable
from tests.factories import HOST, TOKEN, make_client, make_settings

WORKSPACE = {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN}


@pytest.mark.parametrize(
    ("environ", "file_mode", "mode"),
    [
        ({"ACCESS_MODE": "token", "DATABRICKS_APP_PORT": "1", "HOST": "::1"}, "apps", "token"),
        ({"ACCESS_MODE": " Open "}, None, "open"),
        ({"DATABRICKS_APP_PORT": "1", "HOST": "127.0.0.1"}, "token", "token"),
        ({"DATABRICKS_APP_PORT": "8080", "HOST": "127.0.0.1"}, None, "apps"),
        ({"HOST": "127.0.0.1"}, None, "open"),
        ({"HOST": "127.1.2.3"}, None, "open"),
        ({}, None, None),
        ({"HOST": "10.0.0.5"}, None, None),
    ],
)
def test_env_over_file_over_databricks_apps_over_loopback(environ, file_mode, mode):
    assert resolve_mode(AccessTable(mode=file_mode), environ) == mode


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_is_this_machine_only(host, loopback):
    assert is_loopback(host) is loopback


def test_the_python_api_needs_no_mode():
    """load_settings decides nothing about serving: only `check_serving` refuses."""
    settings = make_settings(environ={**WORKSPACE, "DATABRICKS_JOB_ETL": "1"})
    assert settings.access.mode is None
    with pytest.raises(ConfigError, match=r"^no access mode for a service listening on 0"):
        check_serving(settings)


def test_open_off_loopback_is_served_only_when_allowed(tmp_path):
    refused = make_settings(environ={**WORKSPACE, "ACCESS_MODE": "open"})
    with pytest.raises(ConfigError, match=r"^open mode would let anyone who reaches 0"):
        check_serving(refused)
    allowed = make_settings(
        "[access]\nallow_open = true\n",
        environ={**WORKSPACE, "ACCESS_MODE": "open"},
        tmp_path=tmp_path,
    )
    check_serving(allowed)


def test_token_mode_needs_a_key_from_the_environment_or_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^token mode has no API keys: set SIDECAR_API_KEYS"):
        check_serving(make_settings(environ={**WORKSPACE, "ACCESS_MODE": "token"}))
    keys = tmp_path / "keys"
    keys.write_text("# the frontend\nfrontend:abcdefghijklmnop\n")
    toml = f'[access]\nmode = "token"\napi_keys_file = "{keys}"\n'
    settings = make_settings(toml, environ=WORKSPACE, tmp_path=tmp_path)
    check_serving(settings)
    assert [key.name for key in settings.api_keys] == ["frontend"]


async def test_an_app_built_with_no_mode_lets_no_one_in(upstream):
    """Serving checks the mode first; an app built around that check still fails closed."""
    settings = make_settings(environ={**WORKSPACE, "DATABRICKS_JOB_ETL": "1"})
    async with make_client(settings, upstream) as client:
        response = await client.get("/api/jobs", headers={"X-Forwarded-Email": "a@example.com"})
    assert response.status_code == 401
