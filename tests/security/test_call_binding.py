"""A caller token read on the bus is good for nothing else: not for another method, other
arguments, another message, nor later.

Whoever can read the bus (here with the broker's shared login, a queue bound to the RPC
exchange) captured the gateway's system caller from a sign-in and replayed it on
``partners.create_user`` with ``roles=["hq_admin"]``. Every caller token is now bound to
its one call (service, method, correlation id, digest of the arguments) and lives as long
as the call's timeout: each replay below is refused as unauthenticated before any worker
runs, which shows in what the service did not do (no user made, nothing changed) and in
the answer (a worker that ran would have answered a conflict, not ``Unauthenticated``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest

from tests.support.bus_tap import BusTap, Captured, error_of
from tests.support.client import Client, unique
from tests.support.filing_api import customer_body, file_customer
from tests.support.infra import RunInfra
from tests.support.world import World, sign_in

USERS = "/api/v1/users"


@pytest.fixture
def tap(run_infra: RunInfra, admin: Client) -> Iterator[BusTap]:
    with BusTap(run_infra.amqp_uri) as tap:
        yield tap


def users_named(admin: Client, username: str) -> list[dict]:
    response = admin.get(USERS, params={"q": username, "per_page": 100})
    assert response.status_code == 200, response.text
    return [user for user in response.json()["items"] if user["username"] == username]


def new_admin_body(username: str) -> dict:
    return {
        "args": [
            {
                "username": username,
                "password": "sealed-for:whatever",
                "display_name": "intruder",
                "partner_id": None,
                "roles": ["hq_admin"],
            }
        ],
        "kwargs": {},
    }


def created_by_admin(admin: Client, tap: BusTap) -> tuple[dict, Captured]:
    """A user the HQ admin creates through the gateway, and the call as it crossed the bus."""
    body = {
        "username": unique("bound"),
        "password": "secret-pass-1",
        "display_name": "bound",
        "partner_id": None,
        "roles": ["marketing"],
    }
    response = admin.post(USERS, body)
    assert response.status_code == 201, response.text
    return response.json(), tap.call("partners.create_user")


def test_a_sign_ins_system_token_cannot_create_an_hq_admin(
    anonymous: Client, world: World, admin: Client, tap: BusTap
) -> None:
    user = world.user(None, ["marketing"])
    sign_in(anonymous, user["username"])
    captured = tap.call("partners.authenticate")

    intruder = unique("evil")
    reply = tap.replay(captured, "partners.create_user", new_admin_body(intruder))

    assert error_of(reply) == "Unauthenticated"
    assert users_named(admin, intruder) == []


def test_a_captured_call_replayed_on_another_method_is_refused(admin: Client, tap: BusTap) -> None:
    user, captured = created_by_admin(admin, tap)
    body = {"args": [user["id"], {"display_name": "renamed by the intruder"}], "kwargs": {}}

    reply = tap.replay(captured, "partners.update_user", body)

    assert error_of(reply) == "Unauthenticated"
    assert admin.get(f"{USERS}/{user['id']}").json()["display_name"] == "bound"


def test_a_captured_call_replayed_with_other_arguments_is_refused(
    admin: Client, tap: BusTap
) -> None:
    _, captured = created_by_admin(admin, tap)
    intruder = unique("evil")

    reply = tap.replay(captured, body=new_admin_body(intruder))

    assert error_of(reply) == "Unauthenticated"
    assert users_named(admin, intruder) == []


def test_a_captured_call_replayed_as_another_message_is_refused(admin: Client, tap: BusTap) -> None:
    user, captured = created_by_admin(admin, tap)

    reply = tap.replay(captured, correlation_id=unique("cid"))

    # Had a worker run, the user name would be taken: a conflict.
    assert error_of(reply) == "Unauthenticated"
    assert len(users_named(admin, user["username"])) == 1


def test_a_captured_call_replayed_after_its_timeout_is_refused(admin: Client, tap: BusTap) -> None:
    user, captured = created_by_admin(admin, tap)
    claims = jwt.decode(captured.headers["nameko.caller"], options={"verify_signature": False})
    # The token lives the call's timeout and a few seconds more; minutes before the binding.
    assert claims["exp"] - claims["iat"] <= 60
    time.sleep(max(0.0, claims["exp"] - time.time() + 1))

    reply = tap.replay(captured)

    assert error_of(reply) == "Unauthenticated"
    assert len(users_named(admin, user["username"])) == 1


def test_a_services_call_to_a_peer_is_bound_to_that_call(
    admin: Client, world: World, tap: BusTap
) -> None:
    # Filing asks partners who covers the customer's region, as the filing user.
    partner = world.partner(["330106"])
    file_customer(world.partner_user(partner["id"]), customer_body("330106"))
    captured = tap.wait_for(
        lambda seen: (
            seen.routing_key == "partners.partners_covering"
            and not str(seen.properties.get("reply_to", "")).startswith("rpc.reply-gateway-")
        )
    )
    claims = jwt.decode(captured.headers["nameko.caller"], options={"verify_signature": False})
    assert (claims["svc"], claims["mth"], claims["cid"]) == (
        "partners",
        "partners_covering",
        captured.correlation_id,
    )

    victim = world.user(None, ["marketing"])
    body = {"args": [victim["id"], {"active": False}], "kwargs": {}}
    assert error_of(tap.replay(captured, "partners.update_user", body)) == "Unauthenticated"
    assert admin.get(f"{USERS}/{victim['id']}").json()["active"] is True
    other_region = {"args": ["110000"], "kwargs": {}}
    assert error_of(tap.replay(captured, body=other_region)) == "Unauthenticated"


def test_a_refused_call_with_a_reply_key_the_service_may_not_answer_does_not_stop_it(
    anonymous: Client, world: World, admin: Client, tap: BusTap
) -> None:
    # Where each service may publish replies only to its callers' reply keys, the broker
    # refuses the refusal's reply: the service settles the call and goes on (before, the
    # container died, and the call came back to kill it again).
    user = world.user(None, ["marketing"])
    sign_in(anonymous, user["username"])
    captured = tap.call("partners.authenticate")
    body = new_admin_body(unique("evil"))
    tap.send(captured, "partners.create_user", body, unique("cid"), "not-a-reply-key")
    for _ in range(5):
        time.sleep(1)
        assert admin.get("/api/v1/me").status_code == 200
