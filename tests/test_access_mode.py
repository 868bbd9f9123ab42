"""The access mode: where it comes from, and the serving it refuses (the one-line reasons)."""

from __future__ import annotations

import pytest

from service.access_mode import is_loopback, resolve_mode, trust_warnings
from service.config import check_serving, load_settings
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


@pytest.mark.parametrize(
    "proxies", [("0.0.0.0/0",), ("10.0.0.0/8", "::/0"), ("::ffff:0:0/96",), ("::/64", "0.0.0.0/0")]
)
def test_a_proxy_range_of_every_address_is_warned_about_in_apps_mode(proxies):
    access = AccessTable(mode="apps", trusted_proxies=proxies)
    (warning,) = trust_warnings(access, "127.0.0.1")
    assert warning.startswith("[access] trusted_proxies ")
    assert "holds every address: any peer that reaches the port can name itself any user" in warning


@pytest.mark.parametrize(
    ("access", "host"),
    [
        (AccessTable(mode="apps"), "0.0.0.0"),  # the private ranges: the default
        (AccessTable(mode="apps", trusted_proxies=("10.0.0.0/8", "::ffff:10.0.0.0/104")), "::"),
        (AccessTable(mode="token", trusted_proxies=("0.0.0.0/0",)), "0.0.0.0"),  # not used
        (AccessTable(mode="open"), "127.0.0.1"),
        (AccessTable(mode="open"), "::1"),
    ],
)
def test_nothing_is_said_of_what_trusts_no_stranger(access, host):
    assert trust_warnings(access, host) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_open_mode_off_loopback_is_warned_about_even_when_allowed(host):
    (warning,) = trust_warnings(AccessTable(mode="open", allow_open=True), host)
    assert warning == (
        f"open mode on {host} (allow_open = true): anyone who reaches the port may trigger and "
        "cancel runs, as `anonymous`"
    )


def test_the_warnings_reach_the_settings(tmp_path):
    path = tmp_path / "jobs.toml"
    path.write_text("[access]\nallow_open = true\n[jobs.etl]\njob_id = 1\n")
    environ = {**WORKSPACE, "ACCESS_MODE": "open", "HOST": "0.0.0.0"}
    warnings = load_settings(environ, path).warnings
    assert [w for w in warnings if w.startswith("open mode on 0.0.0.0")] != []


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o644, True)])
def test_a_key_file_others_may_read_is_a_warning_of_the_settings(tmp_path, mode, warned):
    keys = tmp_path / "keys"
    keys.write_text("ci:" + "k" * 24 + "\n")
    keys.chmod(mode)
    path = tmp_path / "jobs.toml"
    path.write_text(f'[access]\napi_keys_file = "{keys}"\n[jobs.etl]\njob_id = 1\n')
    warnings = load_settings({**WORKSPACE, "ACCESS_MODE": "token"}, path).warnings
    assert any("is open to other users (mode 644)" in w for w in warnings) == warned
