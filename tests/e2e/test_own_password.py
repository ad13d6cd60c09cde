"""A signed-in user changes its own password (``POST /api/v1/me/password``): it proves the
current one, the new one meets the policy of user creation, and every session ends."""

from __future__ import annotations

import requests

from tests.support.client import Client
from tests.support.waiting import wait_for
from tests.support.world import PASSWORD, World, sign_in

NEW_PASSWORD = "Copper-meadow-4172"


def change(client: Client, current: str, new: str = NEW_PASSWORD) -> requests.Response:
    return client.post("/api/v1/me/password", {"current_password": current, "new_password": new})


def test_a_user_changes_its_password_and_signs_in_with_the_new_one_only(world: World) -> None:
    user = world.user(None, ["marketing"])
    tokens = sign_in(world.anonymous, user["username"])
    client = Client(world.anonymous.base_url, tokens["access_token"])

    response = change(client, PASSWORD)

    assert response.status_code == 204, response.text
    old = world.anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": PASSWORD}
    )
    assert old.status_code == 401
    assert sign_in(world.anonymous, user["username"], NEW_PASSWORD)["user"]["id"] == user["id"]


def test_every_session_ends_with_the_change_this_one_too(world: World) -> None:
    user = world.user(None, ["marketing"])
    first = sign_in(world.anonymous, user["username"])
    other = sign_in(world.anonymous, user["username"])
    client = Client(world.anonymous.base_url, first["access_token"])

    assert change(client, PASSWORD).status_code == 204

    assert client.get("/api/v1/me").status_code == 401
    refreshed = world.anonymous.post(
        "/api/v1/auth/refresh", {"refresh_token": other["refresh_token"]}
    )
    assert refreshed.status_code == 401


def test_a_wrong_current_password_is_refused_and_nothing_changes(world: World) -> None:
    user = world.user(None, ["marketing"])
    client = world.login(user)

    response = change(client, "not-the-password")

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "wrong_password"
    assert "current_password" in problem["errors"]
    assert client.get("/api/v1/me").status_code == 200
    assert sign_in(world.anonymous, user["username"])["user"]["id"] == user["id"]


def test_a_weak_new_password_is_refused_as_at_user_creation(world: World) -> None:
    user = world.user(None, ["marketing"])
    client = world.login(user)

    for weak in ("password123", user["username"] + "-2026-x", PASSWORD):
        response = change(client, PASSWORD, weak)
        assert response.status_code == 422, (weak, response.text)
        assert response.json()["code"] == "invalid_input"
        assert "new_password" in response.json()["errors"], weak
    too_short = change(client, PASSWORD, "short")
    assert too_short.status_code == 422
    assert "new_password" in too_short.json()["errors"]
    assert client.get("/api/v1/me").status_code == 200


def test_repeated_wrong_current_passwords_make_the_account_wait(world: World) -> None:
    user = world.user(None, ["marketing"])
    client = world.login(user)

    for _ in range(5):
        assert change(client, "not-the-password").status_code == 422

    waited = change(client, PASSWORD)
    assert waited.status_code == 429, waited.text
    assert int(waited.headers["Retry-After"]) > 0
    # They count as failed sign-ins: signing in waits too.
    login = world.anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": PASSWORD}
    )
    assert login.status_code == 429


def test_the_change_is_audited(world: World) -> None:
    user = world.user(None, ["marketing"])
    client = world.login(user)

    assert change(client, PASSWORD).status_code == 204

    # The outbox, then the log's handler: the record arrives in a moment.
    query = {"action": "password_changed", "subject_type": "user", "subject_id": str(user["id"])}
    items = wait_for(
        lambda: world.admin.get("/api/v1/audit", params=query).json()["items"],
        what="the password change's audit record",
    )
    assert [(r["actor_id"], r["detail"]) for r in items] == [(user["id"], {"own": True})]
