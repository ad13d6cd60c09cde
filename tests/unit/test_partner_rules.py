"""Partner rules that need no database."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidInput
from services.partners.catalogue import PERMISSIONS_BY_CODE, SEED_ROLES
from services.partners.regions import load_regions
from services.partners.rules import normalise_territory


def test_territory_drops_codes_already_covered_by_a_wider_one() -> None:
    assert normalise_territory(["330100", "330000", "330106"], load_regions()) == ["330000"]


def test_territory_keeps_separate_regions_and_removes_duplicates() -> None:
    codes = normalise_territory(["320100", "330100", "330100"], load_regions())
    assert codes == ["320100", "330100"]


def test_territory_refuses_unknown_codes() -> None:
    with pytest.raises(InvalidInput) as error:
        normalise_territory(["330100", "999999"], load_regions())
    assert error.value.code == "unknown_region"
    assert "999999" in str(error.value.errors["territory"])


def test_seeded_roles_hold_only_permissions_of_their_scope() -> None:
    for role in SEED_ROLES:
        for code in role.permissions:
            assert role.scope in PERMISSIONS_BY_CODE[code].scopes, (role.code, code)


def test_seeded_roles_cover_the_domain_roles() -> None:
    codes = {role.code for role in SEED_ROLES}
    assert {
        "hq_admin",
        "channel_manager",
        "marketing",
        "sales_ops",
        "finance",
        "channel_director",
        "partner_admin",
        "partner_sales",
    } <= codes
    channel_manager = next(r for r in SEED_ROLES if r.code == "channel_manager")
    assert "filing.approve" in channel_manager.permissions
    marketing = next(r for r in SEED_ROLES if r.code == "marketing")
    assert "lead.create" in marketing.permissions
