"""Grades as a partner admin would try to raise its own: it cannot replace the grades nor
give its partner (or a sub-partner) another grade by any route, and numbers or codes the
columns were not made for are invalid input, not a stored grade."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client
from tests.support.world import World

GRADES = "/api/v1/partner-grades"
PARTNERS = "/api/v1/partners"


@pytest.fixture
def grades(admin: Client) -> Iterator[list[dict]]:
    before = admin.get(GRADES).json()
    yield before
    after = admin.get(GRADES).json()
    if after != before:
        admin.put(GRADES, {"grades": before})
    assert after == before, "a refused request changed the grades"


@pytest.fixture
def standard_partner(world: World) -> dict:
    return world.partner(["330100"], grade="standard")


@pytest.mark.parametrize("role", ["partner_admin", "partner_sales"])
def test_a_partner_user_cannot_give_its_partner_a_better_grade(
    admin: Client, world: World, grades: list[dict], standard_partner: dict, role: str
) -> None:
    own = standard_partner["id"]
    child = world.partner(["330102"], parent_id=own, grade="standard")
    user = world.partner_user(own, role)
    richer = [row | {"max_protected_customers": None, "lead_weight": 100} for row in grades]

    attempts = [
        user.put(GRADES, {"grades": richer}),
        user.patch(f"{PARTNERS}/{own}", {"grade": "gold"}),
        user.patch(f"{PARTNERS}/{child['id']}", {"grade": "gold"}),
        user.put(f"{PARTNERS}/{own}/territory", {"territory": ["330000"], "grade": "gold"}),
        user.post(
            PARTNERS,
            {"code": "SELF-GOLD", "name": "自封金牌", "type": "city_partner", "grade": "gold"},
        ),
        user.put("/api/v1/partner-types/city_partner", {"reclaim_cooldown_days": 0}),
    ]

    for response in attempts:
        assert_problem(response, 403, "forbidden")
    assert admin.get(f"{PARTNERS}/{own}").json()["grade"] == "standard"
    assert admin.get(f"{PARTNERS}/{child['id']}").json()["grade"] == "standard"


HUGE = 10**20


@pytest.mark.parametrize(
    "change",
    [
        {"max_protected_customers": HUGE},
        {"max_protected_customers": -1},
        {"lead_weight": HUGE},
        {"lead_weight": 0},
        {"lead_weight": -3},
        {"protection_days": HUGE},
        {"protection_days": 0},
        {"lead_weight": 2.5},
        {"lead_weight": "9" * 400},
    ],
    ids=lambda change: f"{next(iter(change))}={str(next(iter(change.values())))[:12]}",
)
def test_numbers_the_columns_cannot_hold_are_invalid_input(
    admin: Client, grades: list[dict], change: dict
) -> None:
    body = {"grades": [grades[0] | change, *grades[1:]]}
    assert_problem(admin.put(GRADES, body), 422, "invalid_input")


@pytest.mark.parametrize(
    "change",
    [
        {"idle_release_days": HUGE},
        {"idle_release_days": 0},
        {"reclaim_cooldown_days": HUGE},
        {"reclaim_cooldown_days": -1},
    ],
)
def test_partner_type_settings_out_of_range_are_invalid_input(admin: Client, change: dict) -> None:
    before = {row["code"]: row for row in admin.get("/api/v1/partner-types").json()}
    response = admin.put("/api/v1/partner-types/city_partner", change)
    assert_problem(response, 422, "invalid_input")
    after = {row["code"]: row for row in admin.get("/api/v1/partner-types").json()}
    assert after == before


@pytest.mark.parametrize(
    "code",
    [
        "gold\u200b",  # zero-width space
        "\u200bgold",
        "go\u202eld",  # right-to-left override
        "gold\n",
        "gold\u00a0",  # no-break space
        "ｇｏｌｄ",  # full-width letters
        "gold\u0000",
        "",
        "g" * 41,
    ],
    ids=repr,
)
def test_a_grade_code_with_invisible_or_foreign_characters_is_invalid(
    admin: Client, world: World, grades: list[dict], standard_partner: dict, code: str
) -> None:
    body = {"grades": [*grades, {"code": code, "name": "隐形等级", "lead_weight": 1}]}
    response = admin.put(GRADES, body)
    assert response.status_code in (400, 422), response.text

    given = admin.patch(f"{PARTNERS}/{standard_partner['id']}", {"grade": code})
    assert given.status_code in (400, 422), given.text
    assert admin.get(f"{PARTNERS}/{standard_partner['id']}").json()["grade"] == "standard"


def test_a_grade_name_with_invisible_characters_is_invalid(
    admin: Client, grades: list[dict]
) -> None:
    renamed = [grades[0] | {"name": "金\u200d牌"}, *grades[1:]]
    assert_problem(admin.put(GRADES, {"grades": renamed}), 422, "invalid_input")


def test_a_list_too_long_or_twice_the_same_code_is_invalid(
    admin: Client, grades: list[dict]
) -> None:
    many = [{"code": f"g{n}", "name": f"等级{n}", "lead_weight": 1} for n in range(51)]
    assert_problem(admin.put(GRADES, {"grades": [*grades, *many]}), 422, "invalid_input")
    twice = [*grades, grades[0] | {"code": grades[0]["code"].upper()}]
    assert_problem(admin.put(GRADES, {"grades": twice}), 422, "invalid_input")
