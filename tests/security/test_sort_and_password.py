"""An attacker's angle on list sorting and on changing one's own password.

- ``sort`` names a column only through each list's allow-list: an expression, a column the
  list does not offer, text of any length or any code point is 422, never a 500 nor a
  query built from it.
- ``POST /api/v1/me/password`` changes the caller's own password only: no user can be named,
  and a stolen session cannot guess the current password there faster than at sign-in.
"""

from __future__ import annotations

import pytest

from gateway.app import create_app
from tests.support.client import Client
from tests.support.world import PASSWORD, World, sign_in


def _sorted_lists() -> list[str]:
    """Every GET path of the document that takes ``sort``, with its path ids at 1."""
    document = create_app().test_client().get("/openapi.json").get_json()
    found = []
    for path, operations in document["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if any(p["name"] == "sort" and p["in"] == "query" for p in parameters):
            found.append(path.replace("{customer_id}", "1").replace("{channel_id}", "1"))
    return sorted(found)


SORTED_LISTS = _sorted_lists()
HOSTILE_SORTS = [
    "id; DROP TABLE users",
    "id desc",
    "(select 1)",
    "--id",
    "-",
    "",
    " id",
    "ID",
    "password_hash",
    "-contact_name",
    "名称",
    "id\u202e",
    "x" * 2000,
]


def test_every_list_offers_sort() -> None:
    assert len(SORTED_LISTS) >= 18, SORTED_LISTS


@pytest.mark.parametrize("path", SORTED_LISTS)
def test_hostile_sort_values_are_refused_never_a_server_error(admin: Client, path: str) -> None:
    for sort in HOSTILE_SORTS:
        response = admin.get(path, params={"sort": sort})
        assert response.status_code != 500, (path, sort, response.text)
        if response.status_code == 404:  # a path id of no row: the row is looked up first
            continue
        assert response.status_code == 422, (path, sort, response.text)
        assert "sort" in response.json()["errors"], (path, sort)


def test_a_sealed_column_cannot_be_sorted_by(admin: Client) -> None:
    for sort in ("contact_name", "phone", "-address"):
        response = admin.get("/api/v1/customers", params={"sort": sort})
        assert response.status_code == 422, response.text


def test_another_users_password_cannot_be_changed_by_naming_them(world: World) -> None:
    victim = world.user(None, ["marketing"])
    attacker = world.login(world.user(None, ["marketing"]))
    body = {"current_password": PASSWORD, "new_password": "Copper-meadow-4172"}

    for extra in ({"user_id": victim["id"]}, {"username": victim["username"]}):
        response = attacker.post("/api/v1/me/password", body | extra)
        assert response.status_code == 422, response.text
        assert set(response.json()["errors"]) == set(extra)
    named = attacker.post(f"/api/v1/me/password?user_id={victim['id']}", body)
    assert named.status_code in (204, 422), named.text

    # Whatever the attacker sent, the victim's password is the one it was.
    assert sign_in(world.anonymous, victim["username"])["user"]["id"] == victim["id"]


def test_a_refused_change_never_echoes_the_password(world: World) -> None:
    client = world.login(world.user(None, ["marketing"]))

    response = client.post(
        "/api/v1/me/password", {"current_password": "wrong-one-x9", "new_password": "short"}
    )

    assert response.status_code == 422
    assert "wrong-one-x9" not in response.text


def test_without_a_session_nothing_is_changed(anonymous: Client, world: World) -> None:
    user = world.user(None, ["marketing"])
    body = {"current_password": PASSWORD, "new_password": "Copper-meadow-4172"}

    assert anonymous.post("/api/v1/me/password", body).status_code == 401
    assert sign_in(world.anonymous, user["username"])["user"]["id"] == user["id"]


def test_an_admin_cannot_set_its_own_password_without_the_current_one(world: World) -> None:
    # A stolen session of a user with user.manage took the account over through PATCH.
    hq_admin = world.user(None, ["hq_admin"])
    client = world.login(hq_admin)
    partner = world.partner(["460100"])
    partner_admin = world.partner_user(partner["id"], "partner_admin")
    me = partner_admin.get("/api/v1/me").json()

    for who, user_id in ((client, hq_admin["id"]), (partner_admin, me["id"])):
        response = who.patch(f"/api/v1/users/{user_id}", {"password": "Copper-meadow-4172"})
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "own_password"
    assert sign_in(world.anonymous, hq_admin["username"])["user"]["id"] == hq_admin["id"]


def test_a_refusal_never_tells_a_right_guess_of_the_current_password(world: World) -> None:
    # A weak new password (or the same one) was refused differently after a right guess
    # (invalid_input) than after a wrong one (wrong_password), and the right guess was not
    # counted: a stolen session could test guesses unseen.
    client = world.login(world.user(None, ["marketing"]))
    for same in (False, True):
        answers = [
            client.post(
                "/api/v1/me/password",
                {"current_password": guess, "new_password": guess if same else "password123"},
            )
            for guess in (PASSWORD, "wrong-guess-7731")
        ]
        assert [a.status_code for a in answers] == [422, 422]
        assert answers[0].json()["code"] == answers[1].json()["code"] == "invalid_input"
        assert answers[0].json()["errors"] == answers[1].json()["errors"]


@pytest.mark.parametrize("padding", ["\u200b", "\u2028", "\x07", "\ufeff"])
def test_a_weak_password_padded_with_invisible_characters_is_refused(
    world: World, padding: str
) -> None:
    client = world.login(world.user(None, ["marketing"]))
    new = f"pass{padding}word{padding}12{padding}{padding}"
    response = client.post(
        "/api/v1/me/password", {"current_password": PASSWORD, "new_password": new}
    )
    assert response.status_code == 422, response.text
    assert "new_password" in response.json()["errors"]
