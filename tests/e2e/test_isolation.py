"""Each partner's data is walled off from every other partner's; HQ sees across them.

The walkthrough of the issue: HQ creates partners A (杭州 330100), B (浙江 330000) and
C (南京 320100) with a user each; every partner user sees its own partner only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client
from tests.support.world import World

PARTNERS = "/api/v1/partners"


def listed_ids(client: Client, query: str = "per_page=100") -> list[int]:
    response = client.get(f"{PARTNERS}?{query}")
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@dataclass
class Walkthrough:
    a: dict
    b: dict
    c: dict
    user_a: Client
    user_b: Client
    user_c: Client


@pytest.fixture(scope="module")
def abc(admin: Client, anonymous: Client) -> Walkthrough:
    """Read-only for the tests that use it, so made once for the module."""
    world = World(admin, anonymous)
    a = world.partner(["330100"])
    b = world.partner(["330000"], type_="provincial_agent")
    c = world.partner(["320100"])
    return Walkthrough(
        a,
        b,
        c,
        world.partner_user(a["id"]),
        world.partner_user(b["id"]),
        world.partner_user(c["id"]),
    )


@dataclass
class AgentTree:
    agent: dict
    child: dict
    agent_admin: Client
    agent_sales: Client
    child_admin: Client


def make_tree(world: World) -> AgentTree:
    agent = world.partner(["330000"], type_="provincial_agent")
    child = world.partner(["330100"], parent_id=agent["id"])
    return AgentTree(
        agent,
        child,
        world.partner_user(agent["id"], "partner_admin"),
        world.partner_user(agent["id"], "partner_sales"),
        world.partner_user(child["id"], "partner_admin"),
    )


@pytest.fixture(scope="module")
def tree(admin: Client, anonymous: Client) -> AgentTree:
    """Read-only for the tests that use it, so made once for the module."""
    return make_tree(World(admin, anonymous))


@dataclass
class Outsider:
    partner: dict
    clients: dict[str, Client]


@pytest.fixture(scope="module")
def outsider(admin: Client, anonymous: Client) -> Outsider:
    """A partner with a partner_sales and a partner_admin user, who are refused HQ actions
    (so nothing changes and one set does for every such test)."""
    world = World(admin, anonymous)
    partner = world.partner(["330100"])
    roles = ("partner_sales", "partner_admin")
    return Outsider(partner, {role: world.partner_user(partner["id"], role) for role in roles})


# -- lists ------------------------------------------------------------------------------


def test_each_partner_user_lists_only_its_own_partner(abc: Walkthrough) -> None:
    for client, own in ((abc.user_a, abc.a), (abc.user_b, abc.b), (abc.user_c, abc.c)):
        response = client.get(PARTNERS)
        assert response.status_code == 200, response.text
        body = response.json()
        assert [item["id"] for item in body["items"]] == [own["id"]]
        assert body["total"] == 1
        assert body["items"][0]["territory"] == own["territory"]


def test_hq_lists_and_reads_every_partner(admin: Client, abc: Walkthrough) -> None:
    for partner in (abc.a, abc.b, abc.c):
        assert listed_ids(admin, f"q={partner['code']}") == [partner["id"]]
        assert admin.get(f"{PARTNERS}/{partner['id']}").json() == partner
    assert admin.get(f"{PARTNERS}?per_page=1").json()["total"] >= 3


def test_list_filters_never_widen_a_partner_users_scope(abc: Walkthrough) -> None:
    assert listed_ids(abc.user_a, f"q={abc.c['code']}") == []
    assert listed_ids(abc.user_a, "region_code=320100") == []
    assert listed_ids(abc.user_a, "status=active") == [abc.a["id"]]
    assert listed_ids(abc.user_a, "region_code=330106") == [abc.a["id"]]


def test_partner_admin_of_a_provincial_agent_sees_itself_and_its_sub_partner(
    tree: AgentTree,
) -> None:
    assert sorted(listed_ids(tree.agent_admin)) == sorted([tree.agent["id"], tree.child["id"]])
    assert tree.agent_admin.get(f"{PARTNERS}/{tree.child['id']}").status_code == 200

    me = tree.agent_admin.get("/api/v1/me").json()
    assert sorted(me["partner_ids"]) == sorted([tree.agent["id"], tree.child["id"]])


def test_partner_sales_of_a_provincial_agent_sees_only_its_own_partner(tree: AgentTree) -> None:
    assert listed_ids(tree.agent_sales) == [tree.agent["id"]]
    assert_problem(tree.agent_sales.get(f"{PARTNERS}/{tree.child['id']}"), 404, "not_found")


def test_sub_partner_does_not_see_its_parent(tree: AgentTree) -> None:
    assert listed_ids(tree.child_admin) == [tree.child["id"]]
    assert_problem(tree.child_admin.get(f"{PARTNERS}/{tree.agent['id']}"), 404, "not_found")


def test_moving_a_sub_partner_away_takes_it_out_of_the_agents_scope_at_once(
    admin: Client, world: World
) -> None:
    tree = make_tree(world)
    moved = admin.patch(f"{PARTNERS}/{tree.child['id']}", {"parent_id": None})
    assert moved.status_code == 200, moved.text

    assert listed_ids(tree.agent_admin) == [tree.agent["id"]]
    assert_problem(tree.agent_admin.get(f"{PARTNERS}/{tree.child['id']}"), 404, "not_found")


# -- single partners --------------------------------------------------------------------


def test_partner_user_reads_its_own_partner(abc: Walkthrough) -> None:
    response = abc.user_a.get(f"{PARTNERS}/{abc.a['id']}")

    assert response.status_code == 200, response.text
    assert response.json() == abc.a


def test_another_partners_id_answers_404_exactly_like_a_nonexistent_id(
    abc: Walkthrough,
) -> None:
    missing_id = 2_000_000_000
    other = assert_problem(abc.user_a.get(f"{PARTNERS}/{abc.c['id']}"), 404, "not_found")
    missing = assert_problem(abc.user_a.get(f"{PARTNERS}/{missing_id}"), 404, "not_found")

    assert other.keys() == missing.keys()
    for key in ("type", "title", "status", "code"):
        assert other[key] == missing[key]
    assert other["detail"].replace(str(abc.c["id"]), "ID") == missing["detail"].replace(
        str(missing_id), "ID"
    )
    assert abc.c["code"] not in str(other) and abc.c["name"] not in str(other)


# -- HQ-only actions --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["partner_sales", "partner_admin"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", PARTNERS, {"code": "X-1", "name": "x", "type": "city_partner"}),
        ("PATCH", PARTNERS + "/{own}", {"name": "renamed"}),
        ("PUT", PARTNERS + "/{own}/territory", {"territory": ["330000"]}),
        ("POST", PARTNERS + "/{own}/suspend", None),
        ("POST", PARTNERS + "/{own}/activate", None),
        ("POST", PARTNERS + "/{own}/terminate", None),
        ("PUT", "/api/v1/partner-types/city_partner", {"protection_days": 1}),
        (
            "POST",
            "/api/v1/roles",
            {"code": "r-x", "name": "x", "scope": "partner", "permissions": ["customer.create"]},
        ),
    ],
    ids=[
        "create-partner",
        "patch-partner",
        "put-territory",
        "suspend",
        "activate",
        "terminate",
        "put-partner-type",
        "create-role",
    ],
)
def test_partner_users_cannot_do_hq_actions(
    admin: Client, outsider: Outsider, role: str, method: str, path: str, body: dict | None
) -> None:
    client = outsider.clients[role]
    partner = outsider.partner

    response = client.request(method, path.format(own=partner["id"]), json=body)

    assert_problem(response, 403, "forbidden")
    assert admin.get(f"{PARTNERS}/{partner['id']}").json() == partner  # nothing changed


def test_partner_admin_cannot_change_a_role(admin: Client, outsider: Outsider) -> None:
    client = outsider.clients["partner_admin"]
    roles = admin.get("/api/v1/roles?scope=partner&per_page=100").json()["items"]
    sales = next(role for role in roles if role["code"] == "partner_sales")

    response = client.patch(f"/api/v1/roles/{sales['id']}", {"permissions": ["report.read"]})

    assert_problem(response, 403, "forbidden")
    assert admin.get(f"/api/v1/roles/{sales['id']}").json() == sales


def test_partner_admin_sees_only_partner_roles(outsider: Outsider) -> None:
    client = outsider.clients["partner_admin"]

    response = client.get("/api/v1/roles?per_page=100")

    assert response.status_code == 200, response.text
    codes = {role["code"] for role in response.json()["items"]}
    assert {"partner_admin", "partner_sales"} <= codes
    assert all(role["scope"] == "partner" for role in response.json()["items"])
    assert "hq_admin" not in codes


def test_partner_sales_cannot_list_roles_or_users(outsider: Outsider) -> None:
    client = outsider.clients["partner_sales"]

    assert_problem(client.get("/api/v1/roles"), 403, "forbidden")
    assert_problem(client.get("/api/v1/users"), 403, "forbidden")
