"""SCIM `Me`: whose a token is (listed users, the PATs' owner, derived users, service
principals), the [[users]] table, and the stats that show refusals and token grants."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from service.emulator import FaultRule, ManualClock, load_scenario
from service.emulator.scenario import User
from tests.emulator.conftest import NOTEBOOK, make_app, make_client, make_scenario

ME = "/api/2.0/preview/scim/v2/Me"
SCHEMAS = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
]
USERS = (
    User(token="alice-1", user_name="alice@example.com", display_name="Alice"),
    User(token="alice-2", user_name="alice@example.com", display_name="Alice"),
    User(token="bob-1", user_name="bob@example.com"),
)


@pytest.fixture
def app(clock: ManualClock) -> Starlette:
    return make_app(make_scenario(users=USERS), clock=clock)


async def me(app: Starlette, token: str | None) -> httpx.Response:
    async with make_client(app, token=token) as client:
        return await client.get(ME)


async def issue_token(app: Starlette) -> str:
    async with make_client(app, token=None) as client:
        response = await client.post(
            "/oidc/v1/token",
            data={"grant_type": "client_credentials", "scope": "all-apis"},
            auth=httpx.BasicAuth("local-client", "local-secret"),
        )
    return str(response.json()["access_token"])


async def test_me_answers_the_listed_user_of_a_token(app: Starlette) -> None:
    body = (await me(app, "alice-1")).json()
    assert body == {
        "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
        "displayName": "Alice",
        "schemas": SCHEMAS,
        "active": True,
        "id": body["id"],
        "userName": "alice@example.com",
    }
    assert body["id"].isdigit()
    assert len(body["id"]) == 16


async def test_two_tokens_of_one_user_are_the_same_principal(app: Starlette) -> None:
    first, refreshed, bob = [(await me(app, t)).json() for t in ("alice-1", "alice-2", "bob-1")]
    assert first["id"] == refreshed["id"]
    assert bob["id"] != first["id"]
    assert bob["displayName"] == "bob@example.com"  # no display name: the user name


async def test_a_personal_access_token_belongs_to_the_workspace_creator(app: Starlette) -> None:
    body = (await me(app, "dapi-local-dev")).json()
    assert body["userName"] == "emulator@example.com"


async def test_any_other_accepted_token_has_a_user_of_its_own_every_time(app: Starlette) -> None:
    first, again, other = [(await me(app, t)).json() for t in ("tok-x", "tok-x", "tok-y")]
    assert first == again
    assert first["userName"].endswith("@example.com")
    assert other["id"] != first["id"]


async def test_an_oauth_token_belongs_to_its_service_principal(app: Starlette) -> None:
    body = (await me(app, await issue_token(app))).json()
    assert body["userName"] == "local-client"  # a service principal's application id
    assert body["emails"] == []
    assert body["active"] is True


async def test_listed_user_tokens_work_when_accept_any_token_is_off(clock: ManualClock) -> None:
    app = make_app(make_scenario(users=USERS, accept_any_token=False), clock=clock)
    assert (await me(app, "alice-2")).status_code == 200
    assert (await me(app, "tok-x")).status_code == 403


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("dapi-revoked", 403)])
async def test_me_needs_an_accepted_token(app: Starlette, token: str | None, status: int) -> None:
    assert (await me(app, token)).status_code == status


async def test_refused_calls_are_counted(app: Starlette) -> None:
    await me(app, None)
    await me(app, "dapi-revoked")
    await me(app, "alice-1")
    async with make_client(app) as client:
        stats = (await client.get("/emulator/stats")).json()
    assert stats["refused"] == 2
    assert stats["calls"]["preview/scim/v2/Me"] == 3


async def test_token_grants_are_recorded_without_the_tokens(app: Starlette, clock) -> None:
    token = await issue_token(app)
    async with make_client(app) as client:
        stats = (await client.get("/emulator/stats")).json()
    now = clock.now_ms()
    assert stats["token_grants"] == [
        {"client_id": "local-client", "issued_ms": now, "expires_ms": now + 3600 * 1000}
    ]
    assert token not in str(stats)


async def test_faults_can_target_me_and_star_leaves_it_alone(app: Starlette, emulator) -> None:
    emulator.add_fault(FaultRule(endpoint="*", status=503, count=5))
    assert (await me(app, "alice-1")).status_code == 200
    emulator.clear_faults()
    emulator.add_fault(FaultRule(endpoint="preview/scim/v2/Me", status=503))
    assert (await me(app, "alice-1")).status_code == 503
    async with make_client(app) as client:
        assert (await client.get(f"/api/2.1/jobs/get?job_id={NOTEBOOK}")).status_code == 200


def test_users_come_from_a_users_table(tmp_path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(
        '[[users]]\ntoken = "t1"\nuser_name = "a@x.com"\n'
        '[[users]]\ntoken = "t2"\nuser_name = "a@x.com"\ndisplay_name = "A"\n'
    )
    scenario = load_scenario(path)
    assert [u.user_name for u in scenario.users] == ["a@x.com", "a@x.com"]
    assert "t1" not in repr(scenario.users)


def test_a_token_listed_twice_is_an_error(tmp_path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text('[[users]]\ntoken = "t1"\nuser_name = "a"\n' * 2)
    with pytest.raises(ValueError, match="duplicate user token"):
        load_scenario(path)
