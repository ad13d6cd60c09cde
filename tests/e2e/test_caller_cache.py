"""The gateway keeps resolved callers (gateway/callers.py): a caller is asked of partners
once per worker, and every change of rights still reaches every worker at once: a
suspension through the API, one made behind the gateway's back (its event alone), a
role's permissions.

The suspension is timed: from the answer to the suspending request until no new
connection (whichever worker it reaches) is let in; the figure is printed, and must be
under one second."""

from __future__ import annotations

import os
import re
import time

import requests

from gateway.rpc import RpcClient
from services.common.context import Caller
from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.stack import Stack
from tests.support.world import World

#: How long a suspended partner's users may still be let in after the answer.
LOCKOUT = 1.0


def get_caller_calls(stack: Stack) -> float:
    """How many times the gateway's workers asked partners for a caller."""
    assert stack.metrics_url
    text = requests.get(stack.metrics_url, timeout=10).text
    pattern = r'prm_rpc_call_seconds_count\{[^}]*method="get_caller"[^}]*\} ([0-9.e+]+)'
    return sum(float(value) for value in re.findall(pattern, text))


def fresh_get(stack: Stack, token: str, path: str = "/api/v1/me") -> int:
    """The status of ``path`` on a new connection (any worker may take it)."""
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    return requests.get(f"{stack.url}{path}", headers=headers, timeout=10).status_code


def warm(stack: Stack, token: str) -> None:
    """Let every worker resolve and keep the caller."""
    for _ in range(12):
        assert fresh_get(stack, token) == 200


def last_let_in(stack: Stack, token: str, answered: float) -> float | None:
    """Seconds after ``answered`` at which a new connection was last let in (None: never),
    watching until ``LOCKOUT`` has passed and then 10 more requests."""
    last = None
    after = 0
    while time.monotonic() - answered < LOCKOUT or after < 10:
        status = fresh_get(stack, token)
        now = time.monotonic() - answered
        if status == 200:
            last = now
        else:
            assert status == 401, status
        if now >= LOCKOUT:
            after += 1
    return last


def test_a_caller_is_asked_of_partners_once_per_worker(stack: Stack, world: World) -> None:
    partner = world.partner(["330100"])
    client = world.partner_user(partner["id"])
    before = get_caller_calls(stack)
    for _ in range(20):
        assert client.get("/api/v1/me").status_code == 200
    asked = get_caller_calls(stack) - before
    assert 1 <= asked <= 2, f"partners was asked {asked} times for 20 requests on one connection"


def test_a_suspension_locks_out_every_worker_within_a_second_of_its_answer(
    stack: Stack, admin: Client, world: World
) -> None:
    partner = world.partner(["330100"])
    client = world.partner_user(partner["id"])
    assert client.token
    warm(stack, client.token)

    suspended = admin.post(f"/api/v1/partners/{partner['id']}/suspend")
    answered = time.monotonic()
    assert suspended.status_code == 200, suspended.text

    last = last_let_in(stack, client.token, answered)
    print(f"suspension through the API: last let in {last} s after the answer")
    assert last is None or last < LOCKOUT
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_a_suspension_made_behind_the_gateway_reaches_every_worker_by_its_event(
    stack: Stack, world: World
) -> None:
    partner = world.partner(["330100"])
    client = world.partner_user(partner["id"])
    assert client.token
    warm(stack, client.token)

    # Straight to the partners service: no request of this gateway waits for the event.
    rpc = RpcClient(os.environ["AMQP_URI"], timeout=10)
    hq = Caller(user_id=1, permissions=frozenset({"partner.manage"}))
    try:
        rpc.call("partners", "suspend_partner", partner["id"], caller=hq)
        answered = time.monotonic()
    finally:
        rpc.close()

    last = last_let_in(stack, client.token, answered)
    print(f"suspension behind the gateway: last let in {last} s after the answer")
    assert last is None or last < LOCKOUT


def test_a_permission_taken_from_a_role_is_refused_on_the_next_request(
    stack: Stack, admin: Client, world: World
) -> None:
    role = admin.post(
        "/api/v1/roles",
        {
            "code": unique("r"),
            "name": "报表",
            "scope": "partner",
            "permissions": ["report.read"],
        },
    )
    assert role.status_code == 201, role.text
    partner = world.partner(["330100"])
    client = world.login(world.user(partner["id"], [role.json()["code"]]))
    assert client.token
    path = "/api/v1/reports/commissions"
    for _ in range(6):
        assert fresh_get(stack, client.token, path) == 200

    changed = admin.patch(f"/api/v1/roles/{role.json()['id']}", {"permissions": []})
    assert changed.status_code == 200, changed.text

    statuses = {fresh_get(stack, client.token, path) for _ in range(6)}
    assert statuses == {403}
