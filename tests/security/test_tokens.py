"""Token lifecycle: what ends a user's sessions, and whose refresh token a user may revoke.

A new password, new roles or a deactivation end every session of the user at once: the
access tokens it holds answer 401 on the next request (a per-user token version, checked
where the gateway resolves the caller) and its refresh tokens are refused. Logging out
revokes the caller's own refresh token only.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.client import Client
from tests.support.world import PASSWORD, World, sign_in

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
USERS = "/api/v1/users"
NEW_PASSWORD = "walnut-quay-4417"


def assert_unauthenticated(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthenticated"


def bearer(anonymous: Client, tokens: dict) -> Client:
    return Client(anonymous.base_url, tokens["access_token"])


CHANGES = {
    "password": {"password": NEW_PASSWORD},
    "roles": {"roles": ["finance"]},
    "roles-emptied": {"roles": []},
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_password_or_role_ends_the_users_access_and_refresh_tokens_at_once(
    admin: Client, anonymous: Client, world: World, change: str
) -> None:
    user = world.user(None, ["marketing"])
    tokens = sign_in(anonymous, user["username"])
    session = bearer(anonymous, tokens)
    assert session.get(ME).status_code == 200

    patched = admin.patch(f"{USERS}/{user['id']}", CHANGES[change])
    assert patched.status_code == 200, patched.text

    assert_unauthenticated(session.get(ME))
    assert_unauthenticated(anonymous.post(REFRESH, {"refresh_token": tokens["refresh_token"]}))
    # Signing in again gives tokens that work.
    password = NEW_PASSWORD if change == "password" else PASSWORD
    assert bearer(anonymous, sign_in(anonymous, user["username"], password)).get(ME).ok


def test_a_reactivated_user_does_not_get_its_old_sessions_back(
    admin: Client, anonymous: Client, world: World
) -> None:
    user = world.user(world.partner(["330100"])["id"], ["partner_sales"])
    tokens = sign_in(anonymous, user["username"])
    session = bearer(anonymous, tokens)

    assert admin.patch(f"{USERS}/{user['id']}", {"active": False}).status_code == 200
    assert admin.patch(f"{USERS}/{user['id']}", {"active": True}).status_code == 200

    assert_unauthenticated(session.get(ME))
    assert_unauthenticated(anonymous.post(REFRESH, {"refresh_token": tokens["refresh_token"]}))
    assert bearer(anonymous, sign_in(anonymous, user["username"])).get(ME).ok


def test_a_change_to_one_user_leaves_other_users_sessions_alone(
    admin: Client, anonymous: Client, world: World
) -> None:
    changed = world.user(None, ["marketing"])
    bystander = world.user(None, ["marketing"])
    tokens = sign_in(anonymous, bystander["username"])

    assert admin.patch(f"{USERS}/{changed['id']}", {"password": NEW_PASSWORD}).status_code == 200

    assert bearer(anonymous, tokens).get(ME).status_code == 200
    refreshed = anonymous.post(REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


def test_a_refreshed_access_token_works_until_the_next_change(
    admin: Client, anonymous: Client, world: World
) -> None:
    user = world.user(None, ["marketing"])
    first = sign_in(anonymous, user["username"])
    second = anonymous.post(REFRESH, {"refresh_token": first["refresh_token"]}).json()
    assert bearer(anonymous, second).get(ME).status_code == 200

    assert admin.patch(f"{USERS}/{user['id']}", {"roles": ["finance"]}).status_code == 200

    assert_unauthenticated(bearer(anonymous, second).get(ME))
    assert_unauthenticated(anonymous.post(REFRESH, {"refresh_token": second["refresh_token"]}))


def test_logout_with_another_users_refresh_token_leaves_that_token_working(
    anonymous: Client, world: World
) -> None:
    attacker = world.user(None, ["marketing"])
    victim = world.user(None, ["marketing"])
    attacker_tokens = sign_in(anonymous, attacker["username"])
    victim_tokens = sign_in(anonymous, victim["username"])

    response = bearer(anonymous, attacker_tokens).post(
        LOGOUT, {"refresh_token": victim_tokens["refresh_token"]}
    )
    # The same answer as for a token of one's own: it tells nothing about the token.
    assert response.status_code == 204, response.text

    refreshed = anonymous.post(REFRESH, {"refresh_token": victim_tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


def test_logout_revokes_the_callers_own_refresh_token(anonymous: Client, world: World) -> None:
    user = world.user(None, ["marketing"])
    tokens = sign_in(anonymous, user["username"])

    response = bearer(anonymous, tokens).post(LOGOUT, {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204, response.text

    assert_unauthenticated(anonymous.post(REFRESH, {"refresh_token": tokens["refresh_token"]}))
