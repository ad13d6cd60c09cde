"""Partner grades and the pool settings of partner types in the partners service: HQ
replaces the grades, a grade in use stays, and the terms filing reads carry the grade's cap,
lead weight and protection days and the type's idle release and cooldown. An installation
upgraded from before grades gets the grades and the new permissions of its built-in roles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from nameko.testing.services import entrypoint_hook
from sqlalchemy import JSON, Boolean, Integer, String, column, insert, select, table
from sqlalchemy.orm import Session

from services.common.context import Caller, sign_caller
from services.common.db import UTCDateTime, make_engine
from services.common.errors import Conflict, Forbidden, InvalidInput
from services.common.migrations import alembic_config
from services.common.models import OutboxEvent
from services.common.timeutil import utcnow
from services.partners import seed
from services.partners.catalogue import ADMIN_PERMISSIONS, SEED_GRADES, SEED_ROLES
from services.partners.models import PartnerGrade, PartnerType, Role
from services.partners.service import PartnersService
from tests.support import infra
from tests.support.client import unique

ROOT = Path(__file__).resolve().parents[2]
HQ = Caller(user_id=1, permissions=frozenset(ADMIN_PERMISSIONS))
SYSTEM = Caller.system_caller("filing")
SEEDED = [
    {
        "code": g.code,
        "name": g.name,
        "max_protected_customers": g.max_protected_customers,
        "protection_days": g.protection_days,
        "lead_weight": g.lead_weight,
    }
    for g in SEED_GRADES
]


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with infra.migrated_database("partners") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str):
    engine = make_engine(database_url)
    with Session(engine) as session:
        seed.ensure_reference_data(session)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def service(engine, database_url, container_factory, rabbit_config) -> Iterator:
    container = container_factory(PartnersService, rabbit_config | {"DATABASE_URL": database_url})
    container.start()
    yield container


def call(container, method: str, *args, caller: Caller = HQ):
    with entrypoint_hook(container, method, context_data={"caller": sign_caller(caller)}) as hook:
        return hook(*args)


def new_partner(container, territory: list[str], **extra) -> dict:
    body = {"code": unique("G"), "name": "等级伙伴", "type": "city_partner", "territory": territory}
    return call(container, "create_partner", body | extra)


def grade(code: str, **values) -> dict:
    return {"code": code, "name": f"等级 {code}", "lead_weight": 1} | values


# -- the grades -------------------------------------------------------------------------


def test_a_new_installation_has_the_seeded_grades_heaviest_first(service) -> None:
    assert call(service, "list_partner_grades") == SEEDED


def test_hq_adds_changes_and_removes_grades_by_code(service) -> None:
    extra = grade(unique("g").lower(), max_protected_customers=7, lead_weight=5)
    answer = call(service, "set_partner_grades", {"grades": [*SEEDED, extra]})
    assert answer[0] == extra | {"protection_days": None}
    assert answer[1:] == SEEDED

    changed = extra | {"name": "改过", "protection_days": 90, "max_protected_customers": None}
    answer = call(service, "set_partner_grades", {"grades": [changed, *SEEDED]})
    assert answer[0] == changed

    assert call(service, "set_partner_grades", {"grades": SEEDED}) == SEEDED
    assert call(service, "list_partner_grades") == SEEDED


def test_a_grade_given_to_a_partner_cannot_be_removed(service) -> None:
    code = unique("g").lower()
    call(service, "set_partner_grades", {"grades": [*SEEDED, grade(code)]})
    partner = new_partner(service, ["330100"], grade=code)
    assert partner["grade"] == code

    with pytest.raises(Conflict) as refused:
        call(service, "set_partner_grades", {"grades": SEEDED})
    assert refused.value.code == "grade_in_use"
    assert code in [row["code"] for row in call(service, "list_partner_grades")]

    call(service, "update_partner", partner["id"], {"grade": None})
    assert call(service, "set_partner_grades", {"grades": SEEDED}) == SEEDED


def test_only_hq_with_partner_manage_replaces_grades(service) -> None:
    partner = new_partner(service, ["330100"])
    admin = Caller(user_id=9, partner_id=partner["id"], permissions=frozenset({"partner.manage"}))
    with pytest.raises(Forbidden):
        call(service, "set_partner_grades", {"grades": []}, caller=admin)
    marketing = Caller(user_id=8, permissions=frozenset({"lead.create"}))
    with pytest.raises(Forbidden):
        call(service, "set_partner_grades", {"grades": []}, caller=marketing)
    assert call(service, "list_partner_grades") == SEEDED


@pytest.mark.parametrize(
    "bad",
    [
        grade("gold", lead_weight=0),
        grade("gold", lead_weight=101),
        grade("gold", max_protected_customers=-1),
        grade("gold", max_protected_customers=10**12),
        grade("gold", protection_days=0),
        grade("gold", protection_days=3651),
        grade("go\u200bld"),
        grade("gold", name="金\u202e牌"),
        grade("gold", name=""),
        grade("gold", lead_weight=True),
    ],
)
def test_out_of_range_or_invisible_grades_are_invalid(service, bad) -> None:
    with pytest.raises(InvalidInput):
        call(service, "set_partner_grades", {"grades": [bad]})
    assert call(service, "list_partner_grades") == SEEDED


def test_a_code_given_twice_is_invalid(service) -> None:
    with pytest.raises(InvalidInput):
        call(service, "set_partner_grades", {"grades": [grade("gold"), grade("GOLD")]})


def test_a_partner_given_an_unknown_grade_is_invalid(service) -> None:
    with pytest.raises(InvalidInput) as refused:
        new_partner(service, ["330100"], grade="platinum")
    assert refused.value.code == "unknown_grade"
    partner = new_partner(service, ["330100"])
    with pytest.raises(InvalidInput):
        call(service, "update_partner", partner["id"], {"grade": "platinum"})


def test_a_partners_grade_is_told_in_its_events(service, engine) -> None:
    partner = new_partner(service, ["330100"], grade="silver")
    call(service, "update_partner", partner["id"], {"grade": "gold"})
    with Session(engine) as session:
        told = [
            (event.event_type, event.payload["data"]["grade"])
            for event in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
            if event.event_type in ("partner_created", "partner_updated")
            and event.payload["data"]["id"] == partner["id"]
        ]
    assert told == [("partner_created", "silver"), ("partner_updated", "gold")]


# -- the terms filing reads ---------------------------------------------------------------


def test_terms_without_a_grade_have_no_cap_and_weight_one(service) -> None:
    partner = new_partner(service, ["330100"])
    terms = call(service, "partner_terms", partner["id"], caller=SYSTEM)
    assert terms["grade"] is None
    assert terms["max_protected_customers"] is None
    assert terms["lead_weight"] == 1
    assert terms["protection_days"] == 180
    assert terms["claim_hours"] == 72
    assert terms["idle_release_days"] is None
    assert terms["reclaim_cooldown_days"] == 30


def test_terms_carry_the_grade_and_its_protection_days_override(service) -> None:
    region = "653100"
    code = unique("g").lower()
    override = grade(code, max_protected_customers=3, protection_days=45, lead_weight=4)
    call(service, "set_partner_grades", {"grades": [*SEEDED, override]})
    graded = new_partner(service, [region], grade=code)
    gold = new_partner(service, [region], grade="gold")
    try:
        terms = call(service, "partner_terms", graded["id"], caller=SYSTEM)
        assert terms["grade"] == code
        assert terms["max_protected_customers"] == 3
        assert terms["protection_days"] == 45
        assert terms["lead_weight"] == 4

        # A grade without protection days leaves the type's.
        terms = call(service, "partner_terms", gold["id"], caller=SYSTEM)
        assert (terms["grade"], terms["max_protected_customers"]) == ("gold", 500)
        assert (terms["protection_days"], terms["lead_weight"]) == (180, 3)

        covering = {
            row["partner_id"]: row
            for row in call(service, "partners_covering", "653101", caller=SYSTEM)
        }
        assert covering[graded["id"]]["lead_weight"] == 4
        assert covering[graded["id"]]["protection_days"] == 45
        assert covering[gold["id"]]["max_protected_customers"] == 500
        assert covering[gold["id"]]["reclaim_cooldown_days"] == 30
    finally:
        call(service, "update_partner", graded["id"], {"grade": None})
        call(service, "set_partner_grades", {"grades": SEEDED})


def test_partner_type_settings_are_shown_changed_and_reach_the_terms(service) -> None:
    partner = new_partner(service, ["330100"], type="provincial_agent")
    changed = call(
        service,
        "update_partner_type",
        "provincial_agent",
        {"idle_release_days": 60, "reclaim_cooldown_days": 0},
    )
    try:
        assert changed["idle_release_days"] == 60
        assert changed["reclaim_cooldown_days"] == 0
        listed = {row["code"]: row for row in call(service, "list_partner_types")}
        assert listed["provincial_agent"] == changed
        terms = call(service, "partner_terms", partner["id"], caller=SYSTEM)
        assert (terms["idle_release_days"], terms["reclaim_cooldown_days"]) == (60, 0)
        for bad in (
            {"idle_release_days": 0},
            {"idle_release_days": 3651},
            {"reclaim_cooldown_days": -1},
            {"reclaim_cooldown_days": 10**9},
        ):
            with pytest.raises(InvalidInput):
                call(service, "update_partner_type", "provincial_agent", bad)
    finally:
        back = {"idle_release_days": None, "reclaim_cooldown_days": 30}
        restored = call(service, "update_partner_type", "provincial_agent", back)
    assert restored == changed | back


# -- an installation from before grades ---------------------------------------------------


#: The permissions the built-in roles were given after the release before grades: by
#: partners migrations 0010 and 0012.
LATER_PERMISSIONS = {
    "pool.claim",
    "lead.assign",
    "extension.approve",
    "payment.record",
    "payment.manage",
}


def test_an_upgraded_installation_gets_the_grades_and_its_roles_the_new_permissions(
    tmp_path,
) -> None:
    url = f"sqlite:///{tmp_path / 'partners.db'}"
    config = alembic_config("partners", ROOT / "services" / "partners" / "migrations", url)
    command.upgrade(config, "0009")
    engine = make_engine(url)
    roles = table(
        "roles",
        column("code", String),
        column("name", String),
        column("scope", String),
        column("partner_types", JSON),
        column("permissions", JSON),
        column("include_sub_partners", Boolean),
        column("builtin", Boolean),
        column("created_at", UTCDateTime),
    )
    before = {  # the built-in roles as the release before seeded them
        seed_role.code: sorted(set(seed_role.permissions) - LATER_PERMISSIONS)
        for seed_role in SEED_ROLES
    }
    partner_types = table(
        "partner_types",
        column("code", String),
        column("name", String),
        column("protection_days", Integer),
        column("claim_hours", Integer),
    )
    with engine.begin() as connection:
        connection.execute(
            insert(partner_types).values(
                code="city_partner", name="城市合伙人", protection_days=180, claim_hours=72
            )
        )
        for seed_role in SEED_ROLES:
            connection.execute(
                insert(roles).values(
                    code=seed_role.code,
                    name=seed_role.name,
                    scope=seed_role.scope,
                    partner_types=[],
                    permissions=before[seed_role.code],
                    include_sub_partners=seed_role.include_sub_partners,
                    builtin=True,
                    created_at=utcnow(),
                )
            )
    command.upgrade(config, "head")
    with Session(engine) as session:
        seed.ensure_reference_data(session)
        held = {role.code: set(role.permissions) for role in session.scalars(select(Role))}
        assert {"pool.claim"} <= held["partner_admin"] & held["partner_sales"]
        assert "lead.assign" in held["channel_manager"] and "lead.assign" in held["hq_admin"]
        assert "lead.assign" not in held["marketing"] and "pool.claim" not in held["marketing"]
        assert "extension.approve" in held["channel_manager"] & held["channel_director"]
        assert {"payment.record", "payment.manage"} <= held["finance"]
        for code, permissions in held.items():
            assert permissions == set(next(s for s in SEED_ROLES if s.code == code).permissions)
        grades = {g.code: g.lead_weight for g in session.scalars(select(PartnerGrade))}
        assert grades == {g.code: g.lead_weight for g in SEED_GRADES}
        existing = session.get(PartnerType, "city_partner")
        assert (existing.idle_release_days, existing.reclaim_cooldown_days) == (None, 30)

    command.downgrade(config, "0009")
    with engine.connect() as connection:
        held = dict(connection.execute(select(roles.c.code, roles.c.permissions)).all())
    assert {code: sorted(held[code]) for code in before} == before
    engine.dispose()
