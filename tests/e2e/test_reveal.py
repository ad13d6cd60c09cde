"""Revealing one customer's contact data (``POST /customers/{id}/reveal``) over HTTP:
unmasked for a role holding ``customer.pii.reveal`` within what it sees, with a reason;
403 without the permission, 404 for another partner's customer, 422 without a reason.
(That each reveal is recorded in its transaction is checked in the filing service's
tests, tests/services/test_filing_service.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.answers import assert_problem, ok
from tests.support.client import Client
from tests.support.filing_api import CUSTOMERS, customer_body, file_customer
from tests.support.world import World


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    a = world.partner(["330100"])
    b = world.partner(["320100"])
    body = customer_body(contact_name="王敏", address="浙江省杭州市西湖区文三路90号")
    sales_a = world.partner_user(a["id"])
    return {
        "body": body,
        "customer": file_customer(sales_a, body),
        "sales_a": sales_a,
        "admin_b": world.partner_user(b["id"], "partner_admin"),
        "marketing": world.login(world.user(None, ["marketing"])),
        "channel_manager": world.login(world.user(None, ["channel_manager"])),
        "admin": admin,
    }


def reveal(client: Client, customer_id: int, reason: Any = "客户来电核实报备") -> Any:
    return client.post(f"{CUSTOMERS}/{customer_id}/reveal", {"reason": reason})


@pytest.mark.parametrize("who", ["admin", "channel_manager", "sales_a"])
def test_a_role_with_the_permission_gets_the_contact_data_unmasked(people, who) -> None:
    body, customer = people["body"], people["customer"]
    shown = ok(reveal(people[who], customer["id"]))
    assert shown == {
        "id": customer["id"],
        "contact_name": "王敏",
        "phone": body["phone"],
        "address": "浙江省杭州市西湖区文三路90号",
    }


def test_a_role_without_the_permission_is_refused_and_sees_masked_data(people) -> None:
    customer, phone = people["customer"], people["body"]["phone"]
    assert_problem(reveal(people["marketing"], customer["id"]), 403, "forbidden")
    shown = ok(people["marketing"].get(f"{CUSTOMERS}/{customer['id']}"))
    assert (shown["contact_name"], shown["phone"], shown["address"]) == (
        "王*",
        f"{phone[:3]}****{phone[-4:]}",
        "浙江省杭州市西湖区****",
    )


def test_another_partners_customer_is_not_found_and_never_forbidden(people) -> None:
    customer = people["customer"]
    assert_problem(reveal(people["admin_b"], customer["id"]), 404, "not_found")
    assert_problem(reveal(people["admin_b"], 999_999_999), 404, "not_found")


@pytest.mark.parametrize("reason", [None, "", "x", "长" * 201])
def test_a_reason_of_2_to_200_characters_is_required(people, reason) -> None:
    response = reveal(people["admin"], people["customer"]["id"], reason)
    assert "reason" in assert_problem(response, 422, "invalid_input")["errors"]


def test_a_missing_reason_is_refused(people) -> None:
    response = people["admin"].post(f"{CUSTOMERS}/{people['customer']['id']}/reveal", {})
    assert "reason" in assert_problem(response, 422, "invalid_input")["errors"]


def test_reveal_needs_a_token(anonymous: Client, people) -> None:
    assert_problem(reveal(anonymous, people["customer"]["id"]), 401, "unauthenticated")
