"""Users, roles and the permission catalogue: HQ manages everyone, a partner admin its own
partner's users with partner roles only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.world import PASSWORD, World, permissions_of

USERS = "/api/v1/users"
ROLES = "/api/v1/roles"
LOGIN = "/api/v1/auth/login"


def new_user(**fields: object) -> dict:
    return {"username": unique("u"), "password": PASSWORD, "display_name": "新用户"} | fields


@dataclass
class PartnerTeam:
    partner: dict
    admin_user: dict
    admin: Client
    sales_user: dict


@pytest.fixture
def team(world: World) -> PartnerTeam:
    partner = world.partner(["330100"])
    admin_user = world.user(partner["id"], ["partner_admin"])
    sales_user = world.user(partner["id"], ["partner_sales"])
    return PartnerTeam(partner, admin_user, world.login(admin_user), sales_user)


# -- HQ creates users -------------------------------------------------------------------


def test_hq_creates_an_hq_user_with_roles_who_can_sign_in(admin: Client, anonymous: Client) -> None:
    body = new_user(
        roles=["channel_manager", "marketing"], email="li@example.com", phone="13800000000"
    )

    response = admin.post(USERS, body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert "password" not in created and "password_hash" not in created
    assert created["username"] == body["username"]
    assert created["partner_id"] is None
    assert sorted(created["roles"]) == ["channel_manager", "marketing"]
    assert created["active"] is True
    assert created["email"] == "li@example.com"
    assert admin.get(f"{USERS}/{created['id']}").json() == created
    me = anonymous.login(body["username"], PASSWORD).get("/api/v1/me").json()
    assert {"filing.approve", "lead.create"} <= set(me["permissions"])


def test_hq_creates_a_partner_user(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])

    response = admin.post(USERS, new_user(partner_id=partner["id"], roles=["partner_sales"]))

    assert response.status_code == 201, response.text
    assert response.json()["partner_id"] == partner["id"]
    assert response.json()["roles"] == ["partner_sales"]


@pytest.mark.parametrize(
    ("roles", "partner"),
    [(["partner_sales"], False), (["hq_admin"], True), (["no_such_role"], False)],
    ids=["partner-role-to-hq-user", "hq-role-to-partner-user", "unknown-role"],
)
def test_roles_of_the_wrong_scope_or_unknown_are_refused(
    admin: Client, world: World, roles: list[str], partner: bool
) -> None:
    partner_id = world.partner(["330100"])["id"] if partner else None
    body = new_user(partner_id=partner_id, roles=roles)

    response = admin.post(USERS, body)

    assert response.status_code == 422, response.text
    assert "roles" in response.json()["errors"]
    assert admin.get(f"{USERS}?q={body['username']}").json()["total"] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "short"}, "password"),
        ({"username": "a b"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"partner_id": 2_000_000_000}, "partner_id"),
        ({"bogus": 1}, "bogus"),
        ({"language": "fr"}, "language"),
    ],
)
def test_bad_new_user_is_invalid_input_naming_the_field(
    admin: Client, change: dict, field: str
) -> None:
    response = admin.post(USERS, new_user() | change)

    problem = assert_problem(response, 422, "invalid_input")
    assert field in problem["errors"]


def test_username_taken_is_409_whatever_its_case(admin: Client, world: World) -> None:
    user = world.user(None, ["marketing"])

    same = admin.post(USERS, new_user(username=user["username"]))
    other_case = admin.post(USERS, new_user(username=user["username"].upper()))

    assert_problem(same, 409, "username_taken")
    assert_problem(other_case, 409, "username_taken")


# -- a partner admin manages its own partner's users ------------------------------------


def test_partner_admin_creates_a_user_of_its_own_partner(
    anonymous: Client, team: PartnerTeam
) -> None:
    body = new_user(roles=["partner_sales"])

    response = team.admin.post(USERS, body)

    assert response.status_code == 201, response.text
    assert response.json()["partner_id"] == team.partner["id"]
    assert response.json()["roles"] == ["partner_sales"]
    me = anonymous.login(body["username"], PASSWORD).get("/api/v1/me").json()
    assert me["partner_id"] == team.partner["id"]


def test_partner_admin_giving_its_own_partner_id_explicitly_is_fine(team: PartnerTeam) -> None:
    response = team.admin.post(USERS, new_user(partner_id=team.partner["id"]))

    assert response.status_code == 201, response.text
    assert response.json()["partner_id"] == team.partner["id"]


def test_partner_admin_cannot_create_a_user_of_another_partner(
    admin: Client, world: World, team: PartnerTeam
) -> None:
    other = world.partner(["320100"])
    body = new_user(partner_id=other["id"], roles=["partner_sales"])

    response = team.admin.post(USERS, body)

    problem = assert_problem(response, 422, "invalid_input")
    assert "partner_id" in problem["errors"]
    assert admin.get(f"{USERS}?q={body['username']}").json()["total"] == 0


def test_partner_admin_cannot_create_an_hq_user(admin: Client, team: PartnerTeam) -> None:
    body = new_user(partner_id=None, roles=["hq_admin"])

    response = team.admin.post(USERS, body)

    problem = assert_problem(response, 422, "invalid_roles")
    assert "roles" in problem["errors"]
    assert admin.get(f"{USERS}?q={body['username']}").json()["total"] == 0


def test_partner_admin_cannot_give_an_hq_role_to_its_users(
    admin: Client, team: PartnerTeam
) -> None:
    response = team.admin.patch(f"{USERS}/{team.sales_user['id']}", {"roles": ["hq_admin"]})

    problem = assert_problem(response, 422, "invalid_roles")
    assert "roles" in problem["errors"]
    assert admin.get(f"{USERS}/{team.sales_user['id']}").json()["roles"] == ["partner_sales"]


def test_partner_admin_lists_only_its_own_partners_users(world: World, team: PartnerTeam) -> None:
    other = world.partner(["320100"])
    world.user(other["id"], ["partner_sales"])
    world.user(None, ["marketing"])

    response = team.admin.get(f"{USERS}?per_page=100")

    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(item["id"] for item in body["items"]) == sorted(
        [team.admin_user["id"], team.sales_user["id"]]
    )
    assert body["total"] == 2
    widened = team.admin.get(f"{USERS}?partner_id={other['id']}").json()
    assert {item["partner_id"] for item in widened["items"]} <= {team.partner["id"]}


def test_partner_admin_of_an_agent_does_not_list_its_sub_partners_users(
    world: World,
) -> None:
    agent = world.partner(["330000"], type_="provincial_agent")
    child = world.partner(["330100"], parent_id=agent["id"])
    child_user = world.user(child["id"], ["partner_sales"])
    agent_admin = world.partner_user(agent["id"], "partner_admin")

    ids = [item["id"] for item in agent_admin.get(f"{USERS}?per_page=100").json()["items"]]

    assert child_user["id"] not in ids
    assert_problem(agent_admin.get(f"{USERS}/{child_user['id']}"), 404, "not_found")


def test_partner_admin_gets_404_for_a_user_of_another_partner_or_hq(
    admin: Client, world: World, team: PartnerTeam
) -> None:
    outsider = world.user(world.partner(["320100"])["id"], ["partner_sales"])
    hq_user = world.user(None, ["marketing"])

    for user in (outsider, hq_user):
        other = assert_problem(team.admin.get(f"{USERS}/{user['id']}"), 404, "not_found")
        missing = assert_problem(team.admin.get(f"{USERS}/2000000000"), 404, "not_found")
        assert other.keys() == missing.keys()
        assert user["username"] not in str(other)
        patched = team.admin.patch(f"{USERS}/{user['id']}", {"active": False})
        assert_problem(patched, 404, "not_found")
        assert admin.get(f"{USERS}/{user['id']}").json()["active"] is True


def test_partner_sales_reads_itself_but_cannot_manage_users(world: World) -> None:
    partner = world.partner(["330100"])
    me = world.user(partner["id"], ["partner_sales"])
    colleague = world.user(partner["id"], ["partner_sales"])
    client = world.login(me)

    assert client.get(f"{USERS}/{me['id']}").json()["username"] == me["username"]
    assert_problem(client.get(f"{USERS}/{colleague['id']}"), 403, "forbidden")
    assert_problem(client.post(USERS, new_user()), 403, "forbidden")
    assert_problem(client.patch(f"{USERS}/{colleague['id']}", {"active": False}), 403, "forbidden")


# -- changes take effect at once --------------------------------------------------------


def test_deactivated_user_is_refused_at_once(
    admin: Client, anonymous: Client, world: World
) -> None:
    user = world.user(world.partner(["330100"])["id"], ["partner_sales"])
    client = world.login(user)
    assert client.get("/api/v1/me").status_code == 200

    response = admin.patch(f"{USERS}/{user['id']}", {"active": False})
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False

    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")
    login = anonymous.post(LOGIN, {"username": user["username"], "password": PASSWORD})
    assert_problem(login, 401, "unauthenticated")

    # Active again, the user signs in anew: the tokens of before stay ended.
    assert admin.patch(f"{USERS}/{user['id']}", {"active": True}).status_code == 200
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")
    assert world.login(user).get("/api/v1/me").status_code == 200


def test_partner_admin_deactivates_a_user_of_its_partner(team: PartnerTeam, world: World) -> None:
    sales = world.login(team.sales_user)

    response = team.admin.patch(f"{USERS}/{team.sales_user['id']}", {"active": False})

    assert response.status_code == 200, response.text
    assert_problem(sales.get("/api/v1/partners"), 401, "unauthenticated")


def test_user_cannot_deactivate_itself(team: PartnerTeam) -> None:
    response = team.admin.patch(f"{USERS}/{team.admin_user['id']}", {"active": False})

    problem = assert_problem(response, 422, "invalid_input")
    assert "active" in problem["errors"]
    assert team.admin.get("/api/v1/me").status_code == 200


def test_role_changes_end_the_users_sessions_and_show_at_the_next_sign_in(
    admin: Client, world: World
) -> None:
    user = world.user(None, [])
    client = world.login(user)
    assert permissions_of(client) == set()

    assert admin.patch(f"{USERS}/{user['id']}", {"roles": ["marketing"]}).status_code == 200
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")
    client = world.login(user)
    assert permissions_of(client) == {"lead.create", "report.read"}
    assert client.get("/api/v1/me").json()["roles"] == ["marketing"]

    assert admin.patch(f"{USERS}/{user['id']}", {"roles": []}).status_code == 200
    assert permissions_of(world.login(user)) == set()


def test_a_new_password_revokes_refresh_tokens_and_the_old_password(
    admin: Client, anonymous: Client, world: World
) -> None:
    user = world.user(None, ["marketing"])
    tokens = anonymous.post(LOGIN, {"username": user["username"], "password": PASSWORD}).json()

    response = admin.patch(f"{USERS}/{user['id']}", {"password": "a-brand-new-pass"})
    assert response.status_code == 200, response.text

    refresh = anonymous.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_problem(refresh, 401, "unauthenticated")
    old = anonymous.post(LOGIN, {"username": user["username"], "password": PASSWORD})
    assert_problem(old, 401, "unauthenticated")
    assert anonymous.login(user["username"], "a-brand-new-pass").get("/api/v1/me").ok


# -- listing users ----------------------------------------------------------------------


def test_users_are_filtered_and_paged_consistently(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])
    made = [world.user(partner["id"], ["partner_sales"])["id"] for _ in range(3)]
    admin.patch(f"{USERS}/{made[1]}", {"active": False})

    first = admin.get(f"{USERS}?partner_id={partner['id']}&per_page=2&page=1").json()
    second = admin.get(f"{USERS}?partner_id={partner['id']}&per_page=2&page=2").json()
    active = admin.get(f"{USERS}?partner_id={partner['id']}&active=false").json()

    assert (first["total"], first["page"], first["per_page"]) == (3, 1, 2)
    assert (second["total"], second["page"], second["per_page"]) == (3, 2, 2)
    assert [u["id"] for u in first["items"] + second["items"]] == made
    assert [u["id"] for u in active["items"]] == [made[1]]


def test_users_per_page_above_100_is_invalid_input(admin: Client) -> None:
    problem = assert_problem(admin.get(f"{USERS}?per_page=101"), 422, "invalid_input")

    assert "per_page" in problem["errors"]
    assert admin.get(f"{USERS}?per_page=100").json()["per_page"] == 100


# -- roles and permissions --------------------------------------------------------------


def new_role(**fields: object) -> dict:
    return {
        "code": unique("role-"),
        "name": "自定义角色",
        "scope": "partner",
        "permissions": ["customer.create"],
    } | fields


def test_hq_creates_a_role_and_reads_it_back(admin: Client) -> None:
    body = new_role(
        permissions=["report.read", "customer.create", "report.read"], include_sub_partners=True
    )

    response = admin.post(ROLES, body)

    assert response.status_code == 201, response.text
    role = response.json()
    assert role["code"] == body["code"]
    assert role["scope"] == "partner"
    assert role["permissions"] == ["customer.create", "report.read"]
    assert role["include_sub_partners"] is True
    assert role["partner_types"] == []
    assert admin.get(f"{ROLES}/{role['id']}").json() == role


def test_role_limited_to_a_partner_type_is_refused_for_another_type(
    admin: Client, world: World
) -> None:
    role = admin.post(ROLES, new_role(partner_types=["provincial_agent"])).json()
    city = world.partner(["330100"])
    agent = world.partner(["330000"], type_="provincial_agent")

    refused = admin.post(USERS, new_user(partner_id=city["id"], roles=[role["code"]]))
    accepted = admin.post(USERS, new_user(partner_id=agent["id"], roles=[role["code"]]))

    problem = assert_problem(refused, 422, "invalid_roles")
    assert "roles" in problem["errors"]
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["roles"] == [role["code"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "partner", "permissions": ["partner.manage"]}, "permissions"),
        ({"scope": "hq", "permissions": ["customer.create"]}, "permissions"),
        ({"scope": "partner", "permissions": ["no.such.permission"]}, "permissions"),
        (
            {"scope": "hq", "permissions": ["report.read"], "partner_types": ["city_partner"]},
            "partner_types",
        ),
        ({"scope": "partner", "partner_types": ["franchise"]}, "partner_types"),
        (
            {"scope": "hq", "permissions": ["report.read"], "include_sub_partners": True},
            "include_sub_partners",
        ),
        ({"scope": "everyone"}, "scope"),
        ({"bogus": 1}, "bogus"),
    ],
    ids=[
        "hq-permission-in-partner-role",
        "partner-permission-in-hq-role",
        "unknown-permission",
        "hq-role-with-partner-types",
        "unknown-partner-type",
        "hq-role-with-sub-partners",
        "unknown-scope",
        "unknown-field",
    ],
)
def test_invalid_role_is_422_naming_the_field(admin: Client, body: dict, field: str) -> None:
    role = new_role(**body)

    response = admin.post(ROLES, role)

    problem = assert_problem(response, 422, "invalid_input")
    assert field in problem["errors"]
    codes = {r["code"] for r in admin.get(f"{ROLES}?per_page=100").json()["items"]}
    assert role["code"] not in codes


def test_updating_a_role_to_a_permission_outside_its_scope_is_422(admin: Client) -> None:
    role = admin.post(ROLES, new_role()).json()

    response = admin.patch(f"{ROLES}/{role['id']}", {"permissions": ["role.manage"]})

    problem = assert_problem(response, 422, "invalid_input")
    assert "permissions" in problem["errors"]
    assert admin.get(f"{ROLES}/{role['id']}").json()["permissions"] == ["customer.create"]


def test_changing_a_roles_permissions_changes_its_users_permissions(
    admin: Client, world: World
) -> None:
    role = admin.post(ROLES, new_role()).json()
    client = world.partner_user(world.partner(["330100"])["id"], role["code"])
    assert permissions_of(client) == {"customer.create"}

    response = admin.patch(f"{ROLES}/{role['id']}", {"permissions": ["report.read"]})

    assert response.status_code == 200, response.text
    assert permissions_of(client) == {"report.read"}


def test_duplicate_role_code_is_409(admin: Client) -> None:
    body = new_role()
    assert admin.post(ROLES, body).status_code == 201

    assert_problem(admin.post(ROLES, body), 409, "role_code_taken")


def test_permission_catalogue_is_listed_with_scopes(world: World) -> None:
    client = world.partner_user(world.partner(["330100"])["id"])

    response = client.get("/api/v1/permissions")

    assert response.status_code == 200, response.text
    catalogue = {item["code"]: item for item in response.json()}
    expected = {
        "customer.create",
        "filing.approve",
        "lead.create",
        "order.approve.sales",
        "report.read",
        "commission.manage",
        "partner.manage",
        "role.manage",
        "user.manage",
    }
    assert expected <= catalogue.keys()
    assert catalogue["partner.manage"]["scopes"] == ["hq"]
    assert catalogue["customer.create"]["scopes"] == ["partner"]
    assert sorted(catalogue["user.manage"]["scopes"]) == ["hq", "partner"]
    assert all(item["name"] for item in catalogue.values())


def test_hq_lists_roles_by_scope(admin: Client) -> None:
    hq = admin.get(f"{ROLES}?scope=hq&per_page=100").json()["items"]
    partner = admin.get(f"{ROLES}?scope=partner&per_page=100").json()["items"]

    hq_codes = {role["code"] for role in hq}
    assert {
        "hq_admin",
        "channel_manager",
        "marketing",
        "sales_ops",
        "finance",
        "channel_director",
    } <= hq_codes
    assert {"partner_admin", "partner_sales"} <= {role["code"] for role in partner}
    assert all(role["scope"] == "hq" for role in hq)
    partner_admin = next(role for role in partner if role["code"] == "partner_admin")
    assert partner_admin["include_sub_partners"] is True


# -- concurrency ------------------------------------------------------------------------


def test_concurrent_creates_of_one_username_in_different_cases_make_one_user(
    admin: Client,
) -> None:
    # A race: each round may or may not interleave, so try a few rounds.
    clients = [Client(admin.base_url, admin.token) for _ in range(12)]
    for _ in range(8):
        word = "".join(chr(ord("a") + int(c, 16)) for c in unique(""))
        names = [
            "".join(ch.upper() if n >> i & 1 else ch for i, ch in enumerate(word))
            for n in range(len(clients))
        ]

        with ThreadPoolExecutor(len(names)) as pool:
            responses = list(
                pool.map(
                    lambda pair: pair[0].post(USERS, new_user(username=pair[1])),
                    zip(clients, names, strict=True),
                )
            )

        assert sorted(r.status_code for r in responses) == [201] + [409] * (len(names) - 1)
        assert admin.get(f"{USERS}?q={word}").json()["total"] == 1
