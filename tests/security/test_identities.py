"""Keyed identities cannot be written twice so that both read the same.

The user name and partner code patterns ended in ``$``, which Python's ``re`` also matches
before a final line break: "admin\\n" was a user of its own beside "admin" (and a partner
admin could make "hz-admin\\n" beside its colleague), "HZ-CITY\\n" a partner beside
"HZ-CITY"; every pattern now matches the whole value (``FullMatch``). A partner name is
unique, and an invisible character made it another one: names refuse such characters.
"""

from __future__ import annotations

from tests.support.client import Client, unique
from tests.support.world import World

USERS = "/api/v1/users"
PARTNERS = "/api/v1/partners"
STRONG = "Vq7-lake-Orbit-93"


def test_a_user_name_with_a_trailing_line_break_is_refused(admin: Client) -> None:
    name = unique("twin")
    made = admin.post(USERS, {"username": name, "password": STRONG, "display_name": "甲"})
    assert made.status_code == 201, made.text
    twin = admin.post(USERS, {"username": name + "\n", "password": STRONG, "display_name": "甲"})
    assert twin.status_code in (409, 422), twin.text


def test_a_partner_admin_cannot_make_a_line_break_twin_of_a_colleague(world: World) -> None:
    partner = world.partner(["330100"])
    colleague = world.user(partner["id"], ["partner_admin"])
    partner_admin = world.partner_user(partner["id"], "partner_admin")
    twin = partner_admin.post(
        USERS,
        {
            "username": colleague["username"] + "\n",
            "password": STRONG,
            "display_name": colleague["display_name"],
            "roles": ["partner_sales"],
        },
    )
    assert twin.status_code in (409, 422), twin.text


def test_a_partner_code_with_a_trailing_line_break_is_refused(world: World) -> None:
    held = world.partner(["330100"])
    twin = world.admin.post(
        PARTNERS,
        {"code": held["code"] + "\n", "name": f"伙伴 {unique()}", "type": "city_partner",
         "territory": ["330100"]},
    )  # fmt: skip
    assert twin.status_code in (409, 422), twin.text


def test_a_partner_name_with_an_invisible_character_is_taken(world: World) -> None:
    held = world.partner(["330100"])
    name = held["name"][:2] + "\u200b" + held["name"][2:]
    twin = world.admin.post(
        PARTNERS,
        {"code": unique("P"), "name": name, "type": "city_partner", "territory": ["330100"]},
    )
    assert twin.status_code in (409, 422), twin.text
