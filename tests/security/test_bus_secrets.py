"""No password and no token crosses the bus in clear.

Whoever could read the bus (a queue bound to the RPC exchange with the broker's shared
login) read the passwords of ``partners.authenticate`` and the refresh tokens of its
replies. Passwords (sign-in, a new user's, a new one set by HQ) now cross it sealed for
the partners service, and refresh tokens sealed for the partners service on the way in
and for the gateway on the way back; access tokens never cross it (the gateway issues
them). The tests grep every captured byte, headers included, for the secrets the client
sent and received.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bus_tap import BusTap
from tests.support.client import Client, unique
from tests.support.infra import RunInfra
from tests.support.world import PASSWORD, World, sign_in

USERS = "/api/v1/users"


@pytest.fixture
def tap(run_infra: RunInfra, admin: Client) -> Iterator[BusTap]:
    with BusTap(run_infra.amqp_uri) as tap:
        yield tap


def assert_nowhere_on_the_bus(tap: BusTap, *secrets: str) -> None:
    assert tap.seen
    for captured in tap.seen:
        for secret in secrets:
            assert not captured.exposes(secret), f"{captured.routing_key} carries a secret"


def test_a_sign_in_carries_no_password_and_its_reply_no_token(
    anonymous: Client, world: World, tap: BusTap
) -> None:
    user = world.user(None, ["marketing"])
    tokens = sign_in(anonymous, user["username"])

    call = tap.call("partners.authenticate")
    reply = tap.reply(call)
    assert user["username"].encode() in call.raw  # the tap does see the sign-in
    assert not call.exposes(PASSWORD)
    assert reply.payload["error"] is None
    assert not reply.exposes(tokens["refresh_token"])
    assert_nowhere_on_the_bus(tap, PASSWORD, tokens["refresh_token"], tokens["access_token"])


def test_a_refresh_and_a_logout_carry_no_refresh_token(
    anonymous: Client, world: World, tap: BusTap
) -> None:
    user = world.user(None, ["marketing"])
    first = sign_in(anonymous, user["username"])
    refreshed = anonymous.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    session = Client(anonymous.base_url, second["access_token"])
    logged_out = session.post("/api/v1/auth/logout", {"refresh_token": second["refresh_token"]})
    assert logged_out.status_code == 204, logged_out.text

    refresh = tap.call("partners.refresh")
    assert not refresh.exposes(first["refresh_token"])
    assert not tap.reply(refresh).exposes(second["refresh_token"])
    assert not tap.call("partners.logout").exposes(second["refresh_token"])
    assert_nowhere_on_the_bus(
        tap,
        PASSWORD,
        first["refresh_token"],
        second["refresh_token"],
        first["access_token"],
        second["access_token"],
    )


def test_a_new_users_password_and_a_new_password_set_by_hq_are_sealed(
    admin: Client, anonymous: Client, tap: BusTap
) -> None:
    password, new_password = f"pw-{unique()}-first", f"pw-{unique()}-second"
    body = {
        "username": unique("sealed"),
        "password": password,
        "display_name": "sealed",
        "partner_id": None,
        "roles": ["marketing"],
    }
    created = admin.post(USERS, body)
    assert created.status_code == 201, created.text
    changed = admin.patch(f"{USERS}/{created.json()['id']}", {"password": new_password})
    assert changed.status_code == 200, changed.text
    # The sealed password opens where it must: the user signs in with it.
    sign_in(anonymous, body["username"], new_password)

    assert not tap.call("partners.create_user").exposes(password)
    assert not tap.call("partners.update_user").exposes(new_password)
    assert_nowhere_on_the_bus(tap, password, new_password)


def test_a_retried_user_creation_is_answered_as_the_first_though_sealed_anew(
    admin: Client, tap: BusTap
) -> None:
    body = {
        "username": unique("retry"),
        "password": f"pw-{unique()}-retry",
        "display_name": "retry",
        "partner_id": None,
        "roles": ["marketing"],
    }
    key = {"Idempotency-Key": unique("key")}
    first = admin.post(USERS, body, headers=key)
    again = admin.post(USERS, body, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]

    def sealed() -> list[str]:
        calls = [seen for seen in tap.seen if seen.routing_key == "partners.create_user"]
        return [call.payload["args"][0]["password"] for call in calls]

    tap.wait_for(lambda _: len(sealed()) == 2)
    # Two sealings of one password differ: the idempotency fingerprint opens them.
    assert sealed()[0] != sealed()[1]
