"""Regional HQ staff (区域经理) without a database: which regions and permissions a user's
roles give it, and what its caller sees."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.dialects import sqlite

from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.scoping import in_regions, scoped
from services.partners.catalogue import NATIONAL_ONLY
from services.partners.rules import (
    check_role_content,
    check_territory_in_regions,
    permissions_held,
    regions_of,
)


def role(scope: str = "hq", regions: list[str] | None = None, permissions=()) -> SimpleNamespace:
    return SimpleNamespace(scope=scope, regions=regions or [], permissions=list(permissions))


def user(*roles: SimpleNamespace, partner_id: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(partner_id=partner_id, roles=list(roles))


def test_a_user_is_regional_only_when_every_hq_role_it_holds_is() -> None:
    south = role(regions=["440000"])
    west = role(regions=["510000", "440100"])
    assert regions_of(user(south, west)) == ["440000", "440100", "510000"]
    assert regions_of(user(south, role())) is None
    assert regions_of(user()) is None
    # A partner's user is scoped by its partners, never by regions.
    assert regions_of(user(role("partner"), partner_id=7)) is None


def test_a_regional_user_holds_no_national_permission_whatever_its_roles_list() -> None:
    listed = ["filing.approve", "partner.manage", *sorted(NATIONAL_ONLY)]
    regional = permissions_held(user(role(regions=["440000"], permissions=listed)))
    national = permissions_held(user(role(permissions=listed)))
    assert regional == ["filing.approve", "partner.manage"]
    assert set(national) == set(listed)


def test_only_hq_roles_carry_regions() -> None:
    with pytest.raises(InvalidInput) as error:
        check_role_content("partner", {"regions": ["440000"]}, [])
    assert "regions" in error.value.errors
    check_role_content("hq", {"regions": ["440000"]}, [])


def test_a_regional_caller_sees_the_rows_of_no_partner_in_its_regions_only() -> None:
    caller = Caller(user_id=1, partner_ids=frozenset({5}), regions=frozenset({"440000", "210100"}))
    assert caller.is_hq and caller.is_regional
    assert caller.sees_row(5, "110101")  # its partner's row, wherever it lies
    assert caller.sees_row(None, "440106")
    assert caller.sees_row(None, "210102")
    assert not caller.sees_row(None, "210202")  # 大连, outside 沈阳
    assert not caller.sees_row(None, None)
    assert not caller.sees_row(6, "440106")  # another partner's row, even in its regions
    national = Caller(user_id=2)
    assert national.sees_row(6, "210202") and not national.is_regional


def test_the_regions_travel_in_the_signed_claims() -> None:
    caller = Caller(user_id=1, partner_ids=frozenset({5}), regions=frozenset({"440000"}))
    assert Caller.from_claims(caller.to_claims()) == caller
    assert Caller.from_claims(Caller(user_id=2).to_claims()).regions is None


def test_territories_a_regional_caller_gives_lie_in_its_regions() -> None:
    caller = Caller(user_id=1, partner_ids=frozenset(), regions=frozenset({"440000"}))
    check_territory_in_regions(caller, ["440100", "440306"])
    for territory in (["440100", "210100"], [], ["000000"]):
        with pytest.raises(InvalidInput) as error:
            check_territory_in_regions(caller, territory)
        assert error.value.code == "region_out_of_scope"
    check_territory_in_regions(Caller(user_id=2), [])


def test_scoped_reads_take_rows_of_no_partner_by_region_for_a_regional_caller_only() -> None:
    rows = Table("rows", MetaData(), Column("partner_id", String), Column("region_code", String(6)))
    regional = Caller(user_id=1, partner_ids=frozenset({5}), regions=frozenset({"440100"}))
    sql = str(
        scoped(select(rows), rows.c.partner_id, regional, rows.c.region_code).compile(
            dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
        )
    )
    assert "partner_id IS NULL" in sql and "'4401' || '%'" in sql
    without_region = str(scoped(select(rows), rows.c.partner_id, regional).compile())
    assert "IS NULL" not in without_region
    nothing = select(rows).where(in_regions(rows.c.region_code, ["bogus"]))
    assert "0 = 1" in str(nothing.compile(dialect=sqlite.dialect()))
