"""Sign-in, tokens and the signed-in user, over HTTP against the running stack."""

from __future__ import annotations

import os
import time

import jwt
import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.world import PASSWORD, World, sign_in

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"


def bearer(anonymous: Client, token: str) -> Client:
    return Client(anonymous.base_url, token)


def access_token(
    user_id: int,
    *,
    key: str | None = None,
    algorithm: str = "HS256",
    drop: tuple[str, ...] = (),
    **overrides: object,
) -> str:
    """An access token shaped like the gateway's, signed with ``key`` (default: the real
    secret), with claims changed by ``overrides`` and left out by ``drop``."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "typ": "access",
        "iss": "prm-gateway",
        "iat": now,
        "exp": now + 300,
    } | overrides
    for name in drop:
        claims.pop(name)
    secret = os.environ["PRM_JWT_SECRET"] if key is None else key
    return jwt.encode(claims, None if algorithm == "none" else secret, algorithm=algorithm)


@pytest.fixture
def member(world: World) -> dict:
    """A partner_sales user of a fresh partner."""
    partner = world.partner(["330100"])
    return world.user(partner["id"], ["partner_sales"])


# -- sign-in ----------------------------------------------------------------------------


def test_login_returns_bearer_tokens_and_the_user(anonymous: Client, member: dict) -> None:
    body = sign_in(anonymous, member["username"])

    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert isinstance(body["refresh_token"], str) and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["user"] == {
        "id": member["id"],
        "username": member["username"],
        "display_name": member["display_name"],
        "partner_id": member["partner_id"],
    }
    assert bearer(anonymous, body["access_token"]).get(ME).status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401(anonymous: Client, member: dict) -> None:
    wrong_password = anonymous.post(
        LOGIN, {"username": member["username"], "password": "not-the-password"}
    )
    unknown_user = anonymous.post(LOGIN, {"username": unique("nobody"), "password": PASSWORD})

    first = assert_problem(wrong_password, 401, "unauthenticated")
    second = assert_problem(unknown_user, 401, "unauthenticated")
    assert first["detail"] == second["detail"]
    assert "access_token" not in first and "access_token" not in second


def test_login_with_an_unknown_field_is_invalid_input(anonymous: Client, member: dict) -> None:
    response = anonymous.post(
        LOGIN, {"username": member["username"], "password": PASSWORD, "remember": True}
    )

    body = assert_problem(response, 422, "invalid_input")
    assert "remember" in body["errors"]


# -- refresh and logout -----------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_then_refused(
    anonymous: Client, member: dict
) -> None:
    first = sign_in(anonymous, member["username"])

    refreshed = anonymous.post(REFRESH, {"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["token_type"] == "Bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["id"] == member["id"]
    assert bearer(anonymous, second["access_token"]).get(ME).json()["id"] == member["id"]

    again = anonymous.post(REFRESH, {"refresh_token": first["refresh_token"]})
    assert_problem(again, 401, "unauthenticated")


def test_reusing_a_spent_refresh_token_revokes_the_new_one_too(
    anonymous: Client, member: dict
) -> None:
    first = sign_in(anonymous, member["username"])
    second = anonymous.post(REFRESH, {"refresh_token": first["refresh_token"]}).json()

    replay = anonymous.post(REFRESH, {"refresh_token": first["refresh_token"]})
    assert_problem(replay, 401, "unauthenticated")

    stolen_family = anonymous.post(REFRESH, {"refresh_token": second["refresh_token"]})
    assert_problem(stolen_family, 401, "unauthenticated")


def test_refresh_with_an_unknown_refresh_token_is_401(anonymous: Client) -> None:
    response = anonymous.post(REFRESH, {"refresh_token": "x" * 43})

    assert_problem(response, 401, "unauthenticated")


def test_logout_revokes_the_refresh_token(anonymous: Client, member: dict) -> None:
    tokens = sign_in(anonymous, member["username"])
    user = bearer(anonymous, tokens["access_token"])

    response = user.post(LOGOUT, {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204, response.text

    refused = anonymous.post(REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert_problem(refused, 401, "unauthenticated")


def test_logout_without_an_access_token_is_401_and_keeps_the_refresh_token(
    anonymous: Client, member: dict
) -> None:
    tokens = sign_in(anonymous, member["username"])

    response = anonymous.post(LOGOUT, {"refresh_token": tokens["refresh_token"]})
    assert_problem(response, 401, "unauthenticated")

    still_good = anonymous.post(REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert still_good.status_code == 200, still_good.text


def test_refresh_is_refused_once_the_users_partner_is_suspended(
    anonymous: Client, admin: Client, world: World
) -> None:
    partner = world.partner(["330100"])
    user = world.user(partner["id"], ["partner_sales"])
    tokens = sign_in(anonymous, user["username"])
    assert admin.post(f"/api/v1/partners/{partner['id']}/suspend").status_code == 200

    response = anonymous.post(REFRESH, {"refresh_token": tokens["refresh_token"]})

    assert_problem(response, 401, "unauthenticated")


# -- access tokens ----------------------------------------------------------------------


def test_request_without_a_token_is_401(anonymous: Client) -> None:
    response = anonymous.get(ME)

    body = assert_problem(response, 401, "unauthenticated")
    assert body["detail"]
    assert response.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Bearer ",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
        "Basic YWRtaW46YWRtaW4tdGVzdC1wYXNz",
        "Token abc.def.ghi",
    ],
    ids=["garbage", "empty", "bad-signature", "basic-scheme", "other-scheme"],
)
def test_malformed_authorization_is_401(anonymous: Client, authorization: str) -> None:
    response = anonymous.get(ME, headers={"Authorization": authorization})

    assert_problem(response, 401, "unauthenticated")


def test_a_correctly_signed_token_is_accepted(anonymous: Client, member: dict) -> None:
    # The forging helper below makes the same tokens as the gateway (a new user's token
    # version is 0, and a token without one is of version 0): each rejection in the next
    # tests is about the one thing that was changed.
    response = bearer(anonymous, access_token(member["id"])).get(ME)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == member["id"]


FORGERIES: dict[str, dict] = {
    "signed-with-another-key": {"key": "another-key-" + "k" * 40},
    "alg-none": {"algorithm": "none"},
    "other-algorithm-hs512": {"algorithm": "HS512"},
    "without-exp": {"drop": ("exp",)},
    "without-iat": {"drop": ("iat",)},
    "without-sub": {"drop": ("sub",)},
    "refresh-typed": {"typ": "refresh"},
    "other-issuer": {"iss": "someone-else"},
    "sub-not-an-id": {"sub": "admin"},
    "version-not-a-number": {"ver": "0"},
    "version-not-the-users": {"ver": 1},
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_access_token_is_401(anonymous: Client, member: dict, forgery: str) -> None:
    token = access_token(member["id"], **FORGERIES[forgery])

    response = bearer(anonymous, token).get(ME)

    assert_problem(response, 401, "unauthenticated")


def test_correctly_signed_but_expired_token_is_401(anonymous: Client, member: dict) -> None:
    past = int(time.time()) - 3600
    token = access_token(member["id"], iat=past - 900, exp=past)

    response = bearer(anonymous, token).get(ME)

    body = assert_problem(response, 401, "unauthenticated")
    assert "expired" in body["detail"]


def test_correctly_signed_token_for_a_user_that_does_not_exist_is_401(
    anonymous: Client,
) -> None:
    response = bearer(anonymous, access_token(2_000_000_000)).get(ME)

    assert_problem(response, 401, "unauthenticated")


# -- /me --------------------------------------------------------------------------------


def test_me_shows_a_partner_users_roles_permissions_and_partner_ids(
    anonymous: Client, member: dict
) -> None:
    user = bearer(anonymous, sign_in(anonymous, member["username"])["access_token"])

    body = user.get(ME).json()

    assert body["id"] == member["id"]
    assert body["username"] == member["username"]
    assert body["display_name"] == member["display_name"]
    assert body["partner_id"] == member["partner_id"]
    assert body["roles"] == ["partner_sales"]
    assert sorted(body["permissions"]) == [
        "customer.create",
        "customer.pii.reveal",
        "lead.claim",
        "order.create",
        "pool.claim",
    ]
    assert body["partner_ids"] == [member["partner_id"]]


def test_me_shows_an_hq_user_with_every_partner_in_scope(admin: Client) -> None:
    body = admin.get(ME).json()

    assert body["partner_id"] is None
    assert body["partner_ids"] is None
    assert body["roles"] == ["hq_admin"]
    assert {"partner.manage", "user.manage", "role.manage"} <= set(body["permissions"])
    assert "customer.create" not in body["permissions"]  # a partner permission
