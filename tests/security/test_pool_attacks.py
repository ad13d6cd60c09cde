"""The public pool, releases and follow-ups attacked as a partner user would: another
tenant's customer (404, never 403, nothing changed), a customer outside the claimer's
territory, a territory's pool read from outside it, numbers no id or page can be,
invisible characters in what is kept, and two claims of one customer at once.

Partners X (宜昌 420500) and Y (襄阳 420600) are unrelated; Z is a second partner of 宜昌.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.answers import assert_problem, ok
from tests.support.client import Client
from tests.support.filing_api import CUSTOMERS, FILINGS, customer_body, file_customer, graded
from tests.support.world import World

POOL = "/api/v1/pool"
X_CITY, X_DISTRICT, Y_CITY, Y_DISTRICT = "420500", "420502", "420600", "420602"


@pytest.fixture(scope="module")
def tenants(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    x, y, z = world.partner([X_CITY]), world.partner([Y_CITY]), world.partner([X_CITY])
    return {
        "manager": world.login(world.user(None, ["channel_manager"])),
        "x": x,
        "y": y,
        "z": z,
        **{
            f"user_{n}": world.partner_user(p["id"], role)
            for n, p, role in (
                ("x", x, "partner_admin"),
                ("y", y, "partner_admin"),
                ("z", z, "partner_sales"),
            )
        },
    }


def protected(tenants: dict, owner: str, district: str) -> dict:
    customer = file_customer(tenants[f"user_{owner}"], customer_body(district))
    path = f"{FILINGS}/{customer['filing']['id']}/approve"
    ok(tenants["manager"].post(path, {"comment": "同意"}))
    return customer


def test_another_tenants_customer_is_not_found_on_release_and_follow_ups(tenants) -> None:
    customer = protected(tenants, "x", X_DISTRICT)
    y = tenants["user_y"]
    for method, suffix, body in (
        ("POST", "release", {"reason": "抢过来"}),
        ("GET", "follow-ups", None),
        ("POST", "follow-ups", {"kind": "call", "body": "偷看"}),
    ):
        theirs = y.request(method, f"{CUSTOMERS}/{customer['id']}/{suffix}", json=body)
        missing = y.request(method, f"{CUSTOMERS}/999999999/{suffix}", json=body)
        assert_problem(theirs, 404, "not_found")
        assert_problem(missing, 404, "not_found")
        assert theirs.json()["title"] == missing.json()["title"]
    seen = ok(tenants["user_x"].get(f"{CUSTOMERS}/{customer['id']}"))
    assert seen["status"] == "protected"
    assert ok(tenants["user_x"].get(f"{CUSTOMERS}/{customer['id']}/follow-ups"))["total"] == 0


def test_a_pool_shows_nothing_outside_the_partners_territory(tenants) -> None:
    customer = protected(tenants, "x", X_DISTRICT)
    ok(tenants["user_x"].post(f"{CUSTOMERS}/{customer['id']}/release", {"reason": "不做了"}))
    y = tenants["user_y"]
    for query in (
        {},
        {"region_code": X_CITY},
        {"region_code": X_DISTRICT},
        {"q": customer["name"]},
    ):
        items = ok(y.get(POOL, params={"per_page": 100, **query}))["items"]
        assert all(not c["region_code"].startswith("4205") for c in items), query
    assert customer["id"] in {
        c["id"] for c in ok(tenants["user_z"].get(POOL, params={"q": customer["name"]}))["items"]
    }
    # Outside Y's territory: a claim is answered as for a customer that does not exist.
    theirs = y.post(f"{POOL}/{customer['id']}/claim")
    missing = y.post(f"{POOL}/999999999/claim")
    assert_problem(theirs, 404, "not_found")
    assert theirs.json()["title"] == missing.json()["title"]


def test_a_protected_customer_is_not_claimed_through_the_pool(tenants) -> None:
    customer = protected(tenants, "x", X_DISTRICT)
    assert_problem(tenants["user_z"].post(f"{POOL}/{customer['id']}/claim"), 404, "not_found")
    assert (
        ok(tenants["user_x"].get(f"{CUSTOMERS}/{customer['id']}"))["owner_partner_id"]
        == (tenants["x"]["id"])
    )


@pytest.mark.parametrize(
    "path",
    [
        f"{POOL}/-1/claim",
        f"{POOL}/99999999999999999999999/claim",
        f"{CUSTOMERS}/-5/release",
        f"{CUSTOMERS}/99999999999999999999999/follow-ups",
    ],
)
def test_ids_no_row_can_have_are_not_found(tenants, path: str) -> None:
    response = tenants["user_z"].post(path, {"reason": "x", "kind": "call", "body": "x"})
    assert response.status_code in (404, 422), response.text
    assert response.status_code != 500


@pytest.mark.parametrize(
    "query", [{"per_page": 101}, {"page": 0}, {"per_page": -1}, {"page": 10**12}]
)
def test_pages_no_list_has_are_refused(tenants, query: dict) -> None:
    assert_problem(tenants["user_z"].get(POOL, params=query), 422, "invalid_input")


@pytest.mark.parametrize("text", ["\u200b", "跟进\u202e记录", "a\x00b", "a\ufeffb", " \t "])
def test_invisible_characters_are_not_kept(tenants, text: str) -> None:
    customer = protected(tenants, "x", X_DISTRICT)
    follow_ups = f"{CUSTOMERS}/{customer['id']}/follow-ups"
    x = tenants["user_x"]
    assert_problem(x.post(follow_ups, {"kind": "visit", "body": text}), 422, "invalid_input")
    release = f"{CUSTOMERS}/{customer['id']}/release"
    assert_problem(x.post(release, {"reason": text}), 422, "invalid_input")
    assert ok(x.get(follow_ups))["total"] == 0
    assert ok(x.get(f"{CUSTOMERS}/{customer['id']}"))["status"] == "protected"


def test_two_claims_of_one_customer_at_once_leave_one_owner(tenants) -> None:
    customer = protected(tenants, "x", X_DISTRICT)
    ok(tenants["user_x"].post(f"{CUSTOMERS}/{customer['id']}/release", {"reason": "放弃"}))
    path = f"{POOL}/{customer['id']}/claim"
    # The same partner twice at once (two of its users' tabs): one claim, one 409.
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: tenants["user_z"].post(path), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    listed = ok(tenants["user_z"].get(CUSTOMERS, params={"q": customer["name"]}))["items"]
    assert [c["id"] for c in listed] == [customer["id"]]


def test_two_claims_at_once_never_take_a_partner_past_its_cap(tenants, admin: Client) -> None:
    # Z holds one customer and may hold two: of two claims of different customers at once,
    # one is refused. Before the claims took turns per partner, both counted one held
    # customer and both went through (three held under a cap of two).
    protected(tenants, "z", X_DISTRICT)
    for _ in range(3):
        pair = [protected(tenants, "x", X_DISTRICT) for _ in range(2)]
        for customer in pair:
            ok(tenants["user_x"].post(f"{CUSTOMERS}/{customer['id']}/release", {"reason": "放弃"}))
        held = ok(tenants["user_z"].get(CUSTOMERS, params={"status": "protected"}))["total"]
        with graded(admin, tenants["z"], held + 1), ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(lambda c: tenants["user_z"].post(f"{POOL}/{c['id']}/claim"), pair)
            )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 409)
        assert refused.json()["code"] == "claim_limit_reached"
