"""Access control that cannot be turned against itself: a user grants only what it holds,
never changes its own roles nor a role it holds, and the built-in HQ admin role stays
whole.

The grant matrix: for each kind of user who may manage users or roles, every permission of
the catalogue is put into a new role and into an existing one, and every seeded role is
given to a new user and to an existing one; only what the grantor holds gets through,
everything else is 403 and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests

from services.partners.catalogue import HQ, PARTNER, PERMISSIONS, PERMISSIONS_BY_CODE, SEED_ROLES
from tests.support.client import Client, unique
from tests.support.world import PASSWORD, World, permissions_of

USERS = "/api/v1/users"
ROLES = "/api/v1/roles"
ALL_HQ = {p.code for p in PERMISSIONS if HQ in p.scopes}


def problem_code(response: requests.Response) -> str | None:
    if response.headers.get("Content-Type", "").startswith("application/problem+json"):
        return response.json().get("code")
    return None


def role_scope_for(permission: str) -> str:
    return HQ if HQ in PERMISSIONS_BY_CODE[permission].scopes else PARTNER


def role_by_code(admin: Client, code: str) -> dict:
    for scope in (HQ, PARTNER):
        items = admin.get(f"{ROLES}?scope={scope}&per_page=100").json()["items"]
        found = [role for role in items if role["code"] == code]
        if found:
            return found[0]
    raise AssertionError(f"no role {code}")


def make_role(admin: Client, scope: str, permissions: list[str], **extra: object) -> dict:
    body = {
        "code": unique("grant-"),
        "name": "授权测试角色",
        "scope": scope,
        "permissions": permissions,
    } | extra
    response = admin.post(ROLES, body)
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class Grantor:
    name: str
    client: Client
    user: dict
    permissions: set[str]
    partner_id: int | None
    reaches_sub_partners: bool = False
    #: Made by the admin for this grantor to edit: one empty role per scope.
    roles_to_edit: dict[str, dict] = field(default_factory=dict)

    @property
    def is_hq(self) -> bool:
        return self.partner_id is None

    def covers(self, permission: str) -> bool:
        """The rule under test: a permission the grantor holds; for HQ, a partner's own
        permissions too when it manages partners (HQ sets partners up)."""
        if permission in self.permissions:
            return True
        only_partner = PERMISSIONS_BY_CODE[permission].scopes == (PARTNER,)
        return self.is_hq and only_partner and "partner.manage" in self.permissions

    def may_write_role_with(self, permission: str) -> bool:
        return self.is_hq and "role.manage" in self.permissions and self.covers(permission)

    def may_bind(self, role) -> bool:  # role: catalogue.SeedRole
        if "user.manage" not in self.permissions:
            return False
        if role.include_sub_partners and not self.is_hq and not self.reaches_sub_partners:
            return False
        return all(self.covers(code) for code in role.permissions)

    def refusal_code_for_roles(self) -> str:
        # The gateway refuses a role write without role.manage (or by a partner user)
        # before the partners service sees it.
        return (
            "grant_exceeds_own"
            if self.is_hq and "role.manage" in self.permissions
            else ("forbidden")
        )

    def refusal_code_for_users(self) -> str:
        return "grant_exceeds_own" if "user.manage" in self.permissions else "forbidden"


@pytest.fixture(scope="module")
def team(admin: Client, anonymous: Client) -> dict:
    """The grantors, a partner of their own, and the partner they manage users of."""
    world = World(admin, anonymous)
    partner = world.partner(["330100"])
    custom_hq_user_manager = make_role(admin, HQ, ["user.manage"])
    custom_hq_role_manager = make_role(
        admin, HQ, ["role.manage", "user.manage", "report.read", "lead.create"]
    )
    custom_partner_user_manager = make_role(
        admin, PARTNER, ["user.manage", "customer.create", "lead.claim", "order.create"]
    )
    specs = [
        ("hq_admin", None, "hq_admin", False),
        ("partner_admin", partner["id"], "partner_admin", True),
        ("hq_user_manager", None, custom_hq_user_manager["code"], False),
        ("hq_role_manager", None, custom_hq_role_manager["code"], False),
        ("partner_user_manager", partner["id"], custom_partner_user_manager["code"], False),
    ]
    grantors = {}
    for name, partner_id, role_code, reaches in specs:
        user = world.user(partner_id, [role_code])
        client = world.login(user)
        grantor = Grantor(name, client, user, permissions_of(client), partner_id, reaches)
        grantor.roles_to_edit = {scope: make_role(admin, scope, []) for scope in (HQ, PARTNER)}
        grantors[name] = grantor
    return {"partner": partner, "grantors": grantors, "world": world}


GRANTORS = [
    "hq_admin",
    "partner_admin",
    "hq_user_manager",
    "hq_role_manager",
    "partner_user_manager",
]


@pytest.mark.parametrize("name", GRANTORS)
def test_a_new_role_holds_only_permissions_its_maker_holds(
    admin: Client, team: dict, name: str
) -> None:
    grantor: Grantor = team["grantors"][name]
    refused = grantor.refusal_code_for_roles()

    outcome, expected = {}, {}
    for permission in PERMISSIONS:
        body = {
            "code": unique("made-"),
            "name": "自建角色",
            "scope": role_scope_for(permission.code),
            "permissions": [permission.code],
        }
        response = grantor.client.post(ROLES, body)
        outcome[permission.code] = (response.status_code, problem_code(response))
        allowed = grantor.may_write_role_with(permission.code)
        expected[permission.code] = (201, None) if allowed else (403, refused)
        if response.status_code != 201:
            codes = {
                r["code"]
                for r in admin.get(f"{ROLES}?scope={body['scope']}&per_page=100").json()["items"]
            }
            assert body["code"] not in codes

    assert outcome == expected


@pytest.mark.parametrize("name", GRANTORS)
def test_a_role_is_changed_only_to_permissions_its_editor_holds(
    admin: Client, team: dict, name: str
) -> None:
    grantor: Grantor = team["grantors"][name]
    refused = grantor.refusal_code_for_roles()
    kept = {HQ: [], PARTNER: []}

    outcome, expected = {}, {}
    for permission in PERMISSIONS:
        scope = role_scope_for(permission.code)
        role = grantor.roles_to_edit[scope]
        response = grantor.client.patch(f"{ROLES}/{role['id']}", {"permissions": [permission.code]})
        outcome[permission.code] = (response.status_code, problem_code(response))
        allowed = grantor.may_write_role_with(permission.code)
        expected[permission.code] = (200, None) if allowed else (403, refused)
        if allowed:
            kept[scope] = [permission.code]

    assert outcome == expected
    for scope, role in grantor.roles_to_edit.items():
        assert admin.get(f"{ROLES}/{role['id']}").json()["permissions"] == kept[scope]


def _bindable_roles(grantor: Grantor) -> list:
    # Roles go to users of their own kind (a partner user never gets an HQ role: 422,
    # tested with the users); a partner's user managers see partner users only.
    return [role for role in SEED_ROLES if grantor.is_hq or role.scope == PARTNER]


@pytest.mark.parametrize("name", GRANTORS)
def test_a_new_user_gets_only_roles_whose_permissions_its_maker_holds(
    admin: Client, team: dict, name: str
) -> None:
    grantor: Grantor = team["grantors"][name]
    refused = grantor.refusal_code_for_users()

    outcome, expected = {}, {}
    for role in _bindable_roles(grantor):
        body = {
            "username": unique("bound"),
            "password": PASSWORD,
            "display_name": "授权测试",
            "partner_id": team["partner"]["id"] if role.scope == PARTNER else None,
            "roles": [role.code],
        }
        response = grantor.client.post(USERS, body)
        outcome[role.code] = (response.status_code, problem_code(response))
        expected[role.code] = (201, None) if grantor.may_bind(role) else (403, refused)
        if response.status_code != 201:
            assert admin.get(f"{USERS}?q={body['username']}").json()["total"] == 0

    assert outcome == expected


@pytest.mark.parametrize("name", GRANTORS)
def test_a_user_is_given_only_roles_whose_permissions_its_manager_holds(
    admin: Client, team: dict, name: str
) -> None:
    grantor: Grantor = team["grantors"][name]
    world: World = team["world"]
    refused = grantor.refusal_code_for_users()
    targets = {HQ: world.user(None, []), PARTNER: world.user(team["partner"]["id"], [])}
    held = {HQ: [], PARTNER: []}

    outcome, expected = {}, {}
    for role in _bindable_roles(grantor):
        target = targets[role.scope]
        response = grantor.client.patch(f"{USERS}/{target['id']}", {"roles": [role.code]})
        outcome[role.code] = (response.status_code, problem_code(response))
        allowed = grantor.may_bind(role)
        expected[role.code] = (200, None) if allowed else (403, refused)
        if allowed:
            held[role.scope] = [role.code]

    assert outcome == expected
    for scope, target in targets.items():
        assert admin.get(f"{USERS}/{target['id']}").json()["roles"] == held[scope]


# -- the attacks of the issue -----------------------------------------------------------


def test_a_user_manager_cannot_make_itself_hq_admin_nor_take_over_an_admin(
    admin: Client, anonymous: Client, world: World
) -> None:
    manager_role = make_role(admin, HQ, ["user.manage"])
    me = world.user(None, [manager_role["code"]])
    client = world.login(me)
    an_admin = world.user(None, ["hq_admin"])

    promoted = client.patch(f"{USERS}/{me['id']}", {"roles": ["hq_admin"]})
    taken_over = client.patch(f"{USERS}/{an_admin['id']}", {"password": "taken-over-2026"})
    disabled = client.patch(f"{USERS}/{an_admin['id']}", {"active": False})

    assert (promoted.status_code, problem_code(promoted)) == (403, "own_roles")
    assert (taken_over.status_code, problem_code(taken_over)) == (403, "user_exceeds_own")
    assert (disabled.status_code, problem_code(disabled)) == (403, "user_exceeds_own")
    assert permissions_of(client) == {"user.manage"}
    assert admin.get(f"{USERS}/{me['id']}").json()["roles"] == [manager_role["code"]]
    assert permissions_of(anonymous.login(an_admin["username"], PASSWORD)) == ALL_HQ


def test_no_one_changes_its_own_roles_not_even_an_hq_admin(world: World, admin: Client) -> None:
    me = world.user(None, ["hq_admin"])
    client = world.login(me)

    response = client.patch(f"{USERS}/{me['id']}", {"roles": ["hq_admin", "finance"]})

    assert (response.status_code, problem_code(response)) == (403, "own_roles")
    assert admin.get(f"{USERS}/{me['id']}").json()["roles"] == ["hq_admin"]
    # Unchanged roles are no change.
    same = client.patch(f"{USERS}/{me['id']}", {"roles": ["hq_admin"], "display_name": "我"})
    assert same.status_code == 200, same.text


def test_a_role_manager_cannot_add_payment_to_its_own_role(admin: Client, world: World) -> None:
    own_role = make_role(admin, HQ, ["role.manage"])
    client = world.login(world.user(None, [own_role["code"]]))

    response = client.patch(
        f"{ROLES}/{own_role['id']}", {"permissions": ["role.manage", "commission.pay"]}
    )
    renamed = client.patch(f"{ROLES}/{own_role['id']}", {"name": "我的角色"})

    assert (response.status_code, problem_code(response)) == (403, "role_held")
    assert (renamed.status_code, problem_code(renamed)) == (403, "role_held")
    assert admin.get(f"{ROLES}/{own_role['id']}").json()["permissions"] == ["role.manage"]
    assert permissions_of(client) == {"role.manage"}


def test_a_role_manager_cannot_strip_a_role_it_does_not_hold(admin: Client, world: World) -> None:
    finance = role_by_code(admin, "finance")
    manager = make_role(admin, HQ, ["role.manage", "report.read"])
    client = world.login(world.user(None, [manager["code"]]))

    response = client.patch(f"{ROLES}/{finance['id']}", {"permissions": ["report.read"]})

    assert (response.status_code, problem_code(response)) == (403, "grant_exceeds_own")
    assert admin.get(f"{ROLES}/{finance['id']}").json()["permissions"] == finance["permissions"]


def test_a_partner_admin_manages_only_its_partners_users_within_its_own_permissions(
    admin: Client, world: World
) -> None:
    partner = world.partner(["330100"])
    lite = make_role(admin, PARTNER, ["user.manage", "customer.create"])
    reach = make_role(admin, PARTNER, ["customer.create"], include_sub_partners=True)
    partner_admin_user = world.user(partner["id"], ["partner_admin"])
    partner_admin = world.login(partner_admin_user)
    lite_user = world.user(partner["id"], [lite["code"]])
    lite_client = world.login(lite_user)

    def new_user(roles: list[str]) -> dict:
        return {
            "username": unique("pa"),
            "password": PASSWORD,
            "display_name": "伙伴用户",
            "roles": roles,
        }

    made = partner_admin.post(USERS, new_user(["partner_sales"]))
    reaching = partner_admin.post(USERS, new_user([reach["code"]]))
    beyond = lite_client.post(USERS, new_user(["partner_sales"]))
    wider = lite_client.post(USERS, new_user([reach["code"]]))
    demoted = partner_admin.patch(f"{USERS}/{partner_admin_user['id']}", {"roles": []})
    over_admin = lite_client.patch(f"{USERS}/{partner_admin_user['id']}", {"active": False})

    assert made.status_code == 201, made.text
    assert made.json()["partner_id"] == partner["id"]
    assert reaching.status_code == 201, reaching.text
    assert (beyond.status_code, problem_code(beyond)) == (403, "grant_exceeds_own")
    assert (wider.status_code, problem_code(wider)) == (403, "grant_exceeds_own")
    assert (demoted.status_code, problem_code(demoted)) == (403, "own_roles")
    assert (over_admin.status_code, problem_code(over_admin)) == (403, "user_exceeds_own")
    assert admin.get(f"{USERS}/{partner_admin_user['id']}").json()["active"] is True


def test_an_hq_admin_cannot_empty_or_change_the_admin_role(admin: Client, world: World) -> None:
    # Last in the module: on a stack without the rule it leaves every admin powerless.
    admin_role = role_by_code(admin, "hq_admin")
    other_admin = world.login(world.user(None, ["hq_admin"]))

    emptied = other_admin.patch(f"{ROLES}/{admin_role['id']}", {"permissions": []})
    narrowed = other_admin.patch(
        f"{ROLES}/{admin_role['id']}", {"permissions": sorted(ALL_HQ - {"role.manage"})}
    )
    renamed = other_admin.patch(f"{ROLES}/{admin_role['id']}", {"name": "普通角色"})

    for response in (emptied, narrowed, renamed):
        assert (response.status_code, problem_code(response)) == (403, "admin_role_fixed")
    assert admin.get(f"{ROLES}/{admin_role['id']}").json() == admin_role
    assert permissions_of(admin) == ALL_HQ
    assert permissions_of(other_admin) == ALL_HQ
