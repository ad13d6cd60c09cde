"""Partners, their territories, status and types; the region dictionary (HQ's view)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.world import PASSWORD, World

PARTNERS = "/api/v1/partners"


def new_partner(**fields: object) -> dict:
    return {
        "code": unique("P"),
        "name": f"伙伴 {unique()}",
        "type": "city_partner",
        "territory": ["330100"],
    } | fields


@pytest.fixture
def settles(admin: Client) -> Iterator[None]:
    """After the test, wait until the service answers promptly again (the losers of a race
    leave tracebacks that the service takes seconds to log), so later tests are not hit."""
    yield
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = time.monotonic()
        if admin.get("/api/v1/partner-types").ok and time.monotonic() - started < 0.5:
            return
        time.sleep(0.5)


# -- creating and changing partners -----------------------------------------------------


def test_hq_creates_a_partner_with_every_field(admin: Client) -> None:
    body = new_partner(
        contact_name="王经理", contact_phone="+86 138-0000-0000", contact_email="wang@example.com"
    )

    response = admin.post(PARTNERS, body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert isinstance(created["id"], int)
    assert {key: created[key] for key in body} == body
    assert created["status"] == "active"
    assert created["parent_id"] is None
    assert created["created_at"].endswith("Z")
    assert admin.get(f"{PARTNERS}/{created['id']}").json() == created


def test_unknown_field_in_a_new_partner_is_invalid_input(admin: Client) -> None:
    body = new_partner(bogus=1)

    response = admin.post(PARTNERS, body)

    problem = assert_problem(response, 422, "invalid_input")
    assert "bogus" in problem["errors"]
    assert admin.get(f"{PARTNERS}?q={body['code']}").json()["total"] == 0


def test_status_in_a_partner_patch_is_refused_as_unknown_field(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])

    response = admin.patch(f"{PARTNERS}/{partner['id']}", {"status": "terminated"})

    problem = assert_problem(response, 422, "invalid_input")
    assert "status" in problem["errors"]
    assert admin.get(f"{PARTNERS}/{partner['id']}").json()["status"] == "active"


def test_new_partner_missing_required_fields_names_each_of_them(admin: Client) -> None:
    response = admin.post(PARTNERS, {"territory": ["330100"]})

    problem = assert_problem(response, 422, "invalid_input")
    assert {"code", "name", "type"} <= problem["errors"].keys()


@pytest.mark.parametrize(
    "territory",
    [["33010"], ["3301000"], ["abcdef"], ["990000"], ["330100", "330199"]],
    ids=["five-digits", "seven-digits", "letters", "unknown-province", "unknown-city"],
)
def test_invalid_region_code_in_a_territory_is_422(admin: Client, territory: list[str]) -> None:
    body = new_partner(territory=territory)

    response = admin.post(PARTNERS, body)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert "territory" in problem["errors"]
    assert admin.get(f"{PARTNERS}?q={body['code']}").json()["total"] == 0


def test_unknown_partner_type_is_422(admin: Client) -> None:
    response = admin.post(PARTNERS, new_partner(type="franchise"))

    assert response.status_code == 422, response.text
    assert "type" in response.json()["errors"]


def test_duplicate_partner_code_is_409_whatever_its_case(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])

    same = admin.post(PARTNERS, new_partner(code=partner["code"]))
    other_case = admin.post(PARTNERS, new_partner(code=partner["code"].lower()))

    assert_problem(same, 409, "partner_code_taken")
    assert_problem(other_case, 409, "partner_code_taken")


def test_territory_inside_another_territory_code_is_dropped(admin: Client) -> None:
    response = admin.post(PARTNERS, new_partner(territory=["330100", "330000", "330106", "330000"]))

    assert response.status_code == 201, response.text
    assert response.json()["territory"] == ["330000"]


def test_put_territory_replaces_and_normalises_it(admin: Client, world: World) -> None:
    partner = world.partner(["320100"])

    response = admin.put(
        f"{PARTNERS}/{partner['id']}/territory", {"territory": ["330100", "330000", "320200"]}
    )

    assert response.status_code == 200, response.text
    assert response.json()["territory"] == ["320200", "330000"]
    assert admin.get(f"{PARTNERS}/{partner['id']}").json()["territory"] == ["320200", "330000"]


def test_put_territory_with_an_unknown_region_keeps_the_old_one(
    admin: Client, world: World
) -> None:
    partner = world.partner(["320100"])

    response = admin.put(f"{PARTNERS}/{partner['id']}/territory", {"territory": ["990000"]})

    assert response.status_code == 422, response.text
    assert "territory" in response.json()["errors"]
    assert admin.get(f"{PARTNERS}/{partner['id']}").json()["territory"] == ["320100"]


def test_hq_patches_a_partners_name_and_contacts(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])

    response = admin.patch(
        f"{PARTNERS}/{partner['id']}", {"name": "新名字", "contact_phone": "0571-88888888"}
    )

    assert response.status_code == 200, response.text
    assert response.json() == partner | {"name": "新名字", "contact_phone": "0571-88888888"}


def test_partner_cannot_be_made_its_own_ancestor(admin: Client, world: World) -> None:
    agent = world.partner(["330000"], type_="provincial_agent")
    child = world.partner(["330100"], parent_id=agent["id"])

    to_itself = admin.patch(f"{PARTNERS}/{agent['id']}", {"parent_id": agent["id"]})
    to_its_child = admin.patch(f"{PARTNERS}/{agent['id']}", {"parent_id": child["id"]})

    for response in (to_itself, to_its_child):
        problem = assert_problem(response, 422, "invalid_input")
        assert "parent_id" in problem["errors"]
    assert admin.get(f"{PARTNERS}/{agent['id']}").json()["parent_id"] is None


def test_unknown_parent_is_422(admin: Client) -> None:
    response = admin.post(PARTNERS, new_partner(parent_id=2_000_000_000))

    problem = assert_problem(response, 422, "invalid_input")
    assert "parent_id" in problem["errors"]


def test_hq_gets_404_for_a_partner_that_does_not_exist(admin: Client) -> None:
    assert_problem(admin.get(f"{PARTNERS}/2000000000"), 404, "not_found")
    assert_problem(admin.post(f"{PARTNERS}/2000000000/suspend"), 404, "not_found")


# -- status -----------------------------------------------------------------------------


def test_suspending_a_partner_locks_its_users_out_at_once_and_activating_lets_them_in(
    admin: Client, anonymous: Client, world: World
) -> None:
    partner = world.partner(["330100"])
    user = world.user(partner["id"], ["partner_sales"])
    client = world.login(user)
    assert client.get("/api/v1/me").status_code == 200

    suspended = admin.post(f"{PARTNERS}/{partner['id']}/suspend")
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"

    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")
    assert_problem(client.get(PARTNERS), 401, "unauthenticated")
    login = anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": PASSWORD}
    )
    assert_problem(login, 401, "unauthenticated")

    activated = admin.post(f"{PARTNERS}/{partner['id']}/activate")
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"

    assert client.get("/api/v1/me").status_code == 200
    assert world.login(user).get(PARTNERS).json()["items"] == [activated.json()]


def test_locked_out_login_tells_nothing_more_than_a_wrong_password(
    admin: Client, anonymous: Client, world: World
) -> None:
    partner = world.partner(["330100"])
    user = world.user(partner["id"], ["partner_sales"])
    admin.post(f"{PARTNERS}/{partner['id']}/suspend")

    locked = anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": PASSWORD}
    )
    wrong = anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": "wrong-password"}
    )

    assert assert_problem(locked, 401, "unauthenticated")["detail"] == wrong.json()["detail"]


def test_terminated_partner_cannot_be_activated_nor_changed(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])
    client = world.partner_user(partner["id"])

    terminated = admin.post(f"{PARTNERS}/{partner['id']}/terminate")
    assert terminated.status_code == 200, terminated.text
    assert terminated.json()["status"] == "terminated"
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")

    assert_problem(admin.post(f"{PARTNERS}/{partner['id']}/activate"), 409, "invalid_state")
    assert_problem(admin.post(f"{PARTNERS}/{partner['id']}/suspend"), 409, "invalid_state")
    assert_problem(admin.patch(f"{PARTNERS}/{partner['id']}", {"name": "x"}), 409, "invalid_state")
    assert_problem(
        admin.put(f"{PARTNERS}/{partner['id']}/territory", {"territory": ["330000"]}),
        409,
        "invalid_state",
    )
    assert admin.get(f"{PARTNERS}/{partner['id']}").json()["status"] == "terminated"
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_suspending_twice_or_activating_an_active_partner_is_invalid_state(
    admin: Client, world: World
) -> None:
    partner = world.partner(["330100"])

    assert_problem(admin.post(f"{PARTNERS}/{partner['id']}/activate"), 409, "invalid_state")
    assert admin.post(f"{PARTNERS}/{partner['id']}/suspend").status_code == 200
    assert_problem(admin.post(f"{PARTNERS}/{partner['id']}/suspend"), 409, "invalid_state")


def test_suspended_partners_are_listed_by_status(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])
    admin.post(f"{PARTNERS}/{partner['id']}/suspend")

    suspended = admin.get(f"{PARTNERS}?status=suspended&q={partner['code']}").json()
    active = admin.get(f"{PARTNERS}?status=active&q={partner['code']}").json()

    assert [item["id"] for item in suspended["items"]] == [partner["id"]]
    assert active["total"] == 0


# -- lists ------------------------------------------------------------------------------


def test_partners_covering_a_region_are_found_by_region_code(admin: Client, world: World) -> None:
    tag = unique("cov")
    city = world.partner(["330100"], name=f"{tag} 杭州")
    province = world.partner(["330000"], name=f"{tag} 浙江", type_="provincial_agent")
    world.partner(["320100"], name=f"{tag} 南京")

    response = admin.get(f"{PARTNERS}?q={tag}&region_code=330106")

    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [city["id"], province["id"]]


@pytest.mark.parametrize("code", ["000000", "330006"])
def test_malformed_region_code_filter_is_422(admin: Client, code: str) -> None:
    response = admin.get(f"{PARTNERS}?region_code={code}")

    assert_problem(response, 422, "invalid_input")


def test_pages_of_partners_are_consistent(admin: Client, world: World) -> None:
    tag = unique("page")
    made = [world.partner(["330100"], name=f"{tag} {n}")["id"] for n in range(5)]

    pages = [admin.get(f"{PARTNERS}?q={tag}&per_page=2&page={page}").json() for page in (1, 2, 3)]

    assert [page["page"] for page in pages] == [1, 2, 3]
    assert all(page["per_page"] == 2 and page["total"] == 5 for page in pages)
    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert [item["id"] for page in pages for item in page["items"]] == made
    beyond = admin.get(f"{PARTNERS}?q={tag}&per_page=2&page=4").json()
    assert beyond["items"] == [] and beyond["total"] == 5


@pytest.mark.parametrize("page", ["9223372036854775807", "99999999999999999999"])
def test_a_page_number_far_beyond_the_end_is_an_empty_page_or_422_never_500(
    admin: Client, settles: None, page: str
) -> None:
    response = admin.get(f"{PARTNERS}?page={page}")

    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json()["items"] == []
    else:
        assert "page" in response.json()["errors"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("status=closed", "status"),
        ("region_code=3301", "region_code"),
    ],
)
def test_bad_list_arguments_are_invalid_input(admin: Client, query: str, field: str) -> None:
    response = admin.get(f"{PARTNERS}?{query}")

    problem = assert_problem(response, 422, "invalid_input")
    assert field in problem["errors"]


def test_default_page_is_the_first_twenty(admin: Client) -> None:
    body = admin.get(PARTNERS).json()

    assert body["page"] == 1
    assert body["per_page"] == 20
    assert len(body["items"]) == min(20, body["total"])


# -- partner types ----------------------------------------------------------------------


def test_partner_types_are_listed_for_every_user(world: World) -> None:
    client = world.partner_user(world.partner(["330100"])["id"])

    response = client.get("/api/v1/partner-types")

    assert response.status_code == 200, response.text
    types = {item["code"]: item for item in response.json()}
    assert {"city_partner", "provincial_agent"} <= types.keys()
    assert types["city_partner"]["name"] == "城市合伙人"
    for item in types.values():
        assert item.keys() == {
            "code",
            "name",
            "protection_days",
            "claim_hours",
            "idle_release_days",
            "reclaim_cooldown_days",
        }
        assert item["protection_days"] > 0 and item["claim_hours"] > 0
        assert item["idle_release_days"] is None or item["idle_release_days"] > 0
        assert item["reclaim_cooldown_days"] >= 0


def test_hq_changes_a_partner_types_protection_days(admin: Client) -> None:
    path = "/api/v1/partner-types/provincial_agent"
    before = next(
        t for t in admin.get("/api/v1/partner-types").json() if t["code"] == "provincial_agent"
    )
    try:
        response = admin.put(path, {"protection_days": before["protection_days"] + 7})

        assert response.status_code == 200, response.text
        assert response.json() == before | {"protection_days": before["protection_days"] + 7}
        listed = {t["code"]: t for t in admin.get("/api/v1/partner-types").json()}
        assert listed["provincial_agent"]["protection_days"] == before["protection_days"] + 7
    finally:
        admin.put(path, {"protection_days": before["protection_days"]})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"protection_days": 0}, "protection_days"),
        ({"claim_hours": 10_000}, "claim_hours"),
        ({"code": "x"}, "code"),
    ],
)
def test_bad_partner_type_change_is_invalid_input(admin: Client, body: dict, field: str) -> None:
    response = admin.put("/api/v1/partner-types/city_partner", body)

    problem = assert_problem(response, 422, "invalid_input")
    assert field in problem["errors"]


def test_changing_an_unknown_partner_type_is_404(admin: Client) -> None:
    response = admin.put("/api/v1/partner-types/franchise", {"protection_days": 30})

    assert_problem(response, 404, "not_found")


# -- regions ----------------------------------------------------------------------------


def test_regions_list_the_provinces(admin: Client) -> None:
    response = admin.get("/api/v1/regions")

    assert response.status_code == 200, response.text
    regions = {item["code"]: item for item in response.json()}
    assert regions["330000"] == {
        "code": "330000",
        "name": "浙江省",
        "level": "province",
        "parent": None,
    }
    assert regions["320000"]["name"] == "江苏省"
    assert all(item["level"] == "province" for item in regions.values())
    assert len(regions) >= 31


def test_regions_of_a_province_are_its_cities(admin: Client) -> None:
    response = admin.get("/api/v1/regions?parent=330000")

    assert response.status_code == 200, response.text
    cities = {item["code"]: item for item in response.json()}
    assert cities["330100"] == {
        "code": "330100",
        "name": "杭州市",
        "level": "city",
        "parent": "330000",
    }
    assert "330200" in cities
    assert all(item["parent"] == "330000" for item in cities.values())


def test_regions_of_an_unknown_parent_are_404_and_of_a_malformed_one_422(
    admin: Client,
) -> None:
    assert_problem(admin.get("/api/v1/regions?parent=990000"), 404, "not_found")
    problem = assert_problem(admin.get("/api/v1/regions?parent=33"), 422, "invalid_input")
    assert "parent" in problem["errors"]


def test_an_address_resolves_to_province_city_and_district(admin: Client) -> None:
    response = admin.get("/api/v1/regions/resolve", params={"address": "浙江省杭州市西湖区文三路"})

    assert response.status_code == 200, response.text
    assert response.json() == {"province": "330000", "city": "330100", "district": "330106"}


def test_an_address_naming_no_region_resolves_to_nothing(admin: Client) -> None:
    response = admin.get("/api/v1/regions/resolve", params={"address": "月球背面"})

    assert response.status_code == 200, response.text
    assert response.json() == {"province": None, "city": None, "district": None}


def test_resolving_needs_an_address(admin: Client) -> None:
    problem = assert_problem(admin.get("/api/v1/regions/resolve"), 422, "invalid_input")

    assert "address" in problem["errors"]


def test_regions_need_a_signed_in_user(anonymous: Client) -> None:
    assert_problem(anonymous.get("/api/v1/regions"), 401, "unauthenticated")
    assert_problem(anonymous.get("/api/v1/partner-types"), 401, "unauthenticated")


# -- concurrency ------------------------------------------------------------------------


def case_variants(word: str, count: int) -> list[str]:
    """``count`` spellings of ``word`` (letters only) that differ in letter case alone."""
    return [
        "".join(ch.upper() if n >> i & 1 else ch for i, ch in enumerate(word)) for n in range(count)
    ]


def post_all(admin: Client, path: str, bodies: list[dict]) -> list[int]:
    """POST every body at once, each from its own connection; the status codes."""
    clients = [Client(admin.base_url, admin.token) for _ in bodies]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = pool.map(
            lambda pair: pair[0].post(path, pair[1]), zip(clients, bodies, strict=True)
        )
        return sorted(response.status_code for response in responses)


def test_concurrent_creates_of_one_code_in_different_cases_make_one_partner(
    admin: Client,
) -> None:
    # A race: each round may or may not interleave, so try a few rounds.
    for _ in range(8):
        word = "".join(chr(ord("a") + int(c, 16)) for c in unique(""))
        bodies = [new_partner(code=code) for code in case_variants(word, 8)]

        statuses = post_all(admin, PARTNERS, bodies)

        assert statuses == [201] + [409] * 7


def test_concurrent_creates_of_the_same_code_answer_409_to_all_but_one(
    admin: Client, settles: None
) -> None:
    for _ in range(4):
        body = new_partner()

        statuses = post_all(admin, PARTNERS, [body] * 4)

        assert statuses == [201, 409, 409, 409]
