"""What a caller may hand out (``rules.permissions_beyond``): only what it holds, and
for HQ users who manage partners also a partner's own permissions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.common.context import Caller
from services.partners.catalogue import ADMIN_PERMISSIONS, HQ, PARTNER, PERMISSIONS, SEED_ROLES
from services.partners.rules import permissions_beyond

CODES = [p.code for p in PERMISSIONS]
PARTNER_ONLY = {p.code for p in PERMISSIONS if p.scopes == (PARTNER,)}
HQ_CODES = [p.code for p in PERMISSIONS if HQ in p.scopes]


def hq(*permissions: str) -> Caller:
    return Caller(user_id=7, permissions=frozenset(permissions))


def partner_user(*permissions: str) -> Caller:
    return Caller(
        user_id=8, partner_id=3, partner_ids=frozenset({3}), permissions=frozenset(permissions)
    )


def test_a_user_manager_alone_may_hand_out_only_user_manage() -> None:
    caller = hq("user.manage")

    assert permissions_beyond(caller, ["user.manage"]) == []
    assert permissions_beyond(caller, ADMIN_PERMISSIONS) == sorted(
        set(ADMIN_PERMISSIONS) - {"user.manage"}
    )


def test_a_role_manager_may_not_hand_out_payment() -> None:
    assert permissions_beyond(hq("role.manage"), ["role.manage", "commission.pay"]) == [
        "commission.pay"
    ]


def test_an_hq_admin_hands_out_every_permission_of_every_seeded_role() -> None:
    admin = hq(*ADMIN_PERMISSIONS)

    for role in SEED_ROLES:
        assert permissions_beyond(admin, role.permissions) == [], role.code


def test_hq_hands_out_a_partners_own_permissions_only_when_it_manages_partners() -> None:
    own = sorted(PARTNER_ONLY)

    assert permissions_beyond(hq("partner.manage"), own) == []
    assert permissions_beyond(hq("user.manage"), own) == own
    # Permissions HQ roles may hold too it must hold itself.
    assert permissions_beyond(hq("partner.manage"), ["report.read"]) == ["report.read"]


def test_a_partner_user_hands_out_only_what_it_holds() -> None:
    caller = partner_user("user.manage", "customer.create")

    assert permissions_beyond(caller, ["customer.create", "user.manage"]) == []
    assert permissions_beyond(caller, ["order.create", "lead.claim", "customer.create"]) == [
        "lead.claim",
        "order.create",
    ]
    # A forged or stale partner.manage in a partner's caller opens nothing.
    assert permissions_beyond(partner_user("partner.manage"), ["order.create"]) == ["order.create"]


def test_the_system_hands_out_anything_and_unknown_codes_grant_nothing() -> None:
    assert permissions_beyond(Caller.system_caller("seed"), CODES) == []
    assert permissions_beyond(hq(), ["no.such.permission"]) == []


@given(
    held=st.sets(st.sampled_from(HQ_CODES)),
    asked=st.lists(st.sampled_from(CODES)),
)
def test_whatever_is_not_refused_is_held_or_a_partners_own_set_up_by_hq(
    held: set[str], asked: list[str]
) -> None:
    beyond = permissions_beyond(hq(*held), asked)

    granted = set(asked) - set(beyond)
    allowed = held | (PARTNER_ONLY if "partner.manage" in held else set())
    assert granted <= allowed
    assert set(beyond) == set(asked) - allowed
    assert beyond == sorted(beyond)
