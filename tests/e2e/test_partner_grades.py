"""Partner grades and the pool settings of partner types over HTTP: HQ sets the grades and
gives one to a partner, every user reads them, a partner user changes none of it; the
built-in roles hold the channel-operation permissions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.waiting import wait_for
from tests.support.world import World, permissions_of

GRADES = "/api/v1/partner-grades"
TYPES = "/api/v1/partner-types"


@pytest.fixture
def grades(admin: Client) -> Iterator[list[dict]]:
    """The grades before the test, put back after it (partners given a grade the test made
    must be given none again by the test)."""
    before = admin.get(GRADES).json()
    yield before
    response = admin.put(GRADES, {"grades": before})
    assert response.status_code == 200, response.text


def test_every_installation_starts_with_gold_silver_and_standard(admin: Client) -> None:
    response = admin.get(GRADES)

    assert response.status_code == 200, response.text
    seeded = {row["code"]: row for row in response.json()}
    assert {"gold", "silver", "standard"} <= set(seeded)
    assert seeded["gold"]["name"] == "金牌"
    assert seeded["gold"]["lead_weight"] > seeded["silver"]["lead_weight"]
    assert seeded["silver"]["lead_weight"] > seeded["standard"]["lead_weight"] >= 1


def test_hq_sets_grades_and_gives_one_to_a_partner(
    admin: Client, world: World, grades: list[dict]
) -> None:
    code = unique("g").lower()
    mine = {
        "code": code,
        "name": "战略伙伴",
        "max_protected_customers": 20,
        "protection_days": 365,
        "lead_weight": 7,
    }
    response = admin.put(GRADES, {"grades": [*grades, mine]})
    assert response.status_code == 200, response.text
    assert response.json()[0] == mine

    partner = world.partner(["330100"], grade=code)
    assert partner["grade"] == code
    sales = world.partner_user(partner["id"])
    assert sales.get(f"/api/v1/partners/{partner['id']}").json()["grade"] == code
    assert sales.get(GRADES).json() == admin.get(GRADES).json()

    # Still given: it stays, and the list with it is as it was.
    refused = admin.put(GRADES, {"grades": grades})
    assert_problem(refused, 409, "grade_in_use")
    assert code in [row["code"] for row in admin.get(GRADES).json()]

    changed = admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": "gold"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["grade"] == "gold"
    assert admin.put(GRADES, {"grades": grades}).json() == grades
    # Both changes of the list are in the audit log, with who made them.
    me = admin.get("/api/v1/me").json()
    wait_for(
        lambda: (
            [
                record["detail"]
                for record in admin.get(
                    "/api/v1/audit", params={"action": "grades_changed", "actor_id": me["id"]}
                ).json()["items"]
                if code in (record["detail"].get("added"), record["detail"].get("removed"))
            ][:2]
            == [
                {"added": "", "changed": "", "removed": code},
                {"added": code, "changed": "", "removed": ""},
            ]
        ),
        what="the audit records of the grade list's changes",
    )

    unknown = admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": code})
    assert_problem(unknown, 422, "unknown_grade")
    cleared = admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": None})
    assert cleared.json()["grade"] is None


def test_a_partner_user_reads_the_grades_but_changes_none(
    admin: Client, world: World, grades: list[dict]
) -> None:
    partner = world.partner(["330100"], grade="standard")
    partner_admin = world.partner_user(partner["id"], "partner_admin")

    assert partner_admin.get(GRADES).json() == grades
    gold_for_all = [row | {"max_protected_customers": None} for row in grades]
    assert_problem(partner_admin.put(GRADES, {"grades": gold_for_all}), 403, "forbidden")
    own = partner_admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": "gold"})
    assert_problem(own, 403, "forbidden")

    assert admin.get(GRADES).json() == grades
    assert admin.get(f"/api/v1/partners/{partner['id']}").json()["grade"] == "standard"


def test_partner_types_show_and_take_idle_release_and_cooldown(admin: Client, world: World) -> None:
    before = {row["code"]: row for row in admin.get(TYPES).json()}["city_partner"]
    assert "idle_release_days" in before
    assert before["reclaim_cooldown_days"] >= 0
    settings = {"idle_release_days": 45, "reclaim_cooldown_days": 10}
    try:
        response = admin.put(f"{TYPES}/city_partner", settings)
        assert response.status_code == 200, response.text
        assert response.json() == before | settings
        sales = world.partner_user(world.partner(["330100"])["id"])
        shown = {row["code"]: row for row in sales.get(TYPES).json()}["city_partner"]
        assert shown == before | settings

        off = admin.put(f"{TYPES}/city_partner", {"idle_release_days": None})
        assert off.json()["idle_release_days"] is None
    finally:
        keys = ("idle_release_days", "reclaim_cooldown_days")
        admin.put(f"{TYPES}/city_partner", {key: before[key] for key in keys})


def test_the_built_in_roles_hold_the_channel_operation_permissions(
    admin: Client, world: World
) -> None:
    partner = world.partner(["330100"])
    for role in ("partner_admin", "partner_sales"):
        assert "pool.claim" in permissions_of(world.partner_user(partner["id"], role))
    for role, holds in (("channel_manager", True), ("marketing", False)):
        held = permissions_of(world.login(world.user(None, [role])))
        assert ("lead.assign" in held) is holds
    assert "lead.assign" in permissions_of(admin)
    catalogue = {row["code"]: row["scopes"] for row in admin.get("/api/v1/permissions").json()}
    assert catalogue["pool.claim"] == ["partner"]
    assert catalogue["lead.assign"] == ["hq"]


def test_the_grade_routes_are_documented(anonymous: Client) -> None:
    document = anonymous.get("/openapi.json").json()
    paths = document["paths"]
    assert {"get", "put"} <= set(paths["/api/v1/partner-grades"])
    put = paths["/api/v1/partner-grades"]["put"]
    assert {"200", "403", "409", "422"} <= set(put["responses"])
    schemas = document["components"]["schemas"]
    assert "lead_weight" in schemas["PartnerGradeOut"]["properties"]
    assert "reclaim_cooldown_days" in schemas["PartnerTypeUpdate"]["properties"]
    assert "grade" in schemas["PartnerUpdate"]["properties"]
