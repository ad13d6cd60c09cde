"""The partners service on its own, through Nameko's testing tools, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.context import Caller, sign_caller
from services.common.db import make_engine
from services.common.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from services.common.models import OutboxEvent
from services.common.sealing import open_sealed_for, seal_for
from services.partners import seed
from services.partners.catalogue import ADMIN_PERMISSIONS
from services.partners.service import PartnersService
from tests.support import infra
from tests.support.client import unique

# An HQ admin: a user manager gives only roles whose permissions it holds.
HQ = Caller(user_id=1, permissions=frozenset(ADMIN_PERMISSIONS))
SYSTEM = Caller.system_caller("gateway")


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


#: Fields that cross the bus sealed for the partners service, as the gateway sends them.
SECRETS = ("password", "refresh_token")


def _sealed(value):
    if not isinstance(value, dict):
        return value
    return value | {key: seal_for("partners", value[key]) for key in SECRETS if key in value}


def call(container, method: str, *args, caller: Caller = HQ, seal: bool = True):
    """Call as the gateway does: secrets sealed on the way, the refresh token opened on
    the way back (``seal=False`` sends them in plain text)."""
    args = tuple(_sealed(arg) for arg in args) if seal else args
    with entrypoint_hook(container, method, context_data={"caller": sign_caller(caller)}) as hook:
        answer = hook(*args)
    if isinstance(answer, dict) and "refresh_token" in answer:
        answer = answer | {"refresh_token": open_sealed_for("gateway", answer["refresh_token"])}
    return answer


def new_partner(
    container, territory: list[str], type_: str = "city_partner", parent_id=None
) -> dict:
    return call(
        container,
        "create_partner",
        {
            "code": unique("S"),
            "name": "测试伙伴",
            "type": type_,
            "territory": territory,
            "parent_id": parent_id,
        },
    )


def test_covering_partners_come_most_specific_first(service) -> None:
    region = "330106"
    city = new_partner(service, ["330100"])
    province = new_partner(service, ["330000"], "provincial_agent")
    district = new_partner(service, ["330106"])
    found = [row["partner_id"] for row in call(service, "partners_covering", region, caller=SYSTEM)]
    mine = [pid for pid in found if pid in {city["id"], province["id"], district["id"]}]
    assert mine == [district["id"], city["id"], province["id"]]


def test_region_names_are_given_for_known_codes_only(service) -> None:
    names = call(service, "region_names", {"codes": ["330000", "330106", "110000", "990000"]})
    assert names == {"330000": "浙江省", "330106": "西湖区", "110000": "北京市"}
    with pytest.raises(InvalidInput):
        call(service, "region_names", {"codes": ["33"]})


def test_suspended_partner_covers_nothing(service) -> None:
    partner = new_partner(service, ["650100"])
    call(service, "suspend_partner", partner["id"])
    found = call(service, "partners_covering", "650102", caller=SYSTEM)
    assert partner["id"] not in [row["partner_id"] for row in found]


def test_creating_a_partner_writes_its_events_in_the_same_transaction(service, engine) -> None:
    partner = new_partner(service, ["330200"])
    with Session(engine) as session:
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    types = [
        e.event_type
        for e in events
        if e.payload["data"].get("partner_id", e.payload["data"].get("id")) == partner["id"]
    ]
    assert "partner_created" in types
    assert "territory_changed" in types


def test_partner_admin_scope_includes_sub_partners_and_sales_scope_does_not(service) -> None:
    agent = new_partner(service, ["320000"], "provincial_agent")
    child = new_partner(service, ["320200"], parent_id=agent["id"])
    grandchild = new_partner(service, ["320205"], parent_id=child["id"])
    admin = call(
        service,
        "create_user",
        {
            "username": unique("adm"),
            "password": "secret-pass-1",
            "display_name": "a",
            "partner_id": agent["id"],
            "roles": ["partner_admin"],
        },
    )
    sales = call(
        service,
        "create_user",
        {
            "username": unique("sal"),
            "password": "secret-pass-1",
            "display_name": "s",
            "partner_id": agent["id"],
            "roles": ["partner_sales"],
        },
    )
    admin_scope = call(service, "get_caller", admin["id"], caller=SYSTEM)["partner_ids"]
    sales_scope = call(service, "get_caller", sales["id"], caller=SYSTEM)["partner_ids"]
    assert sorted(admin_scope) == sorted([agent["id"], child["id"], grandchild["id"]])
    assert sales_scope == [agent["id"]]


def test_partner_cannot_be_made_its_own_ancestor(service) -> None:
    parent = new_partner(service, ["340100"], "provincial_agent")
    child = new_partner(service, ["340200"], parent_id=parent["id"])
    with pytest.raises(InvalidInput):
        call(service, "update_partner", parent["id"], {"parent_id": child["id"]})


def test_reused_refresh_token_revokes_the_whole_family(service) -> None:
    user = call(
        service,
        "create_user",
        {
            "username": unique("ref"),
            "password": "secret-pass-1",
            "display_name": "r",
            "partner_id": None,
            "roles": ["marketing"],
        },
    )
    first = call(
        service,
        "authenticate",
        {"username": user["username"], "password": "secret-pass-1"},
        caller=SYSTEM,
    )["refresh_token"]
    second = call(service, "refresh", {"refresh_token": first}, caller=SYSTEM)["refresh_token"]
    with pytest.raises(Unauthenticated):
        call(service, "refresh", {"refresh_token": first}, caller=SYSTEM)
    with pytest.raises(Unauthenticated):
        call(service, "refresh", {"refresh_token": second}, caller=SYSTEM)


def test_recipients_are_the_active_holders_of_a_permission(service) -> None:
    partner = new_partner(service, ["350100"])
    sales = call(
        service,
        "create_user",
        {
            "username": unique("rc"),
            "password": "secret-pass-1",
            "display_name": "x",
            "partner_id": partner["id"],
            "roles": ["partner_sales"],
        },
    )
    inactive = call(
        service,
        "create_user",
        {
            "username": unique("rc"),
            "password": "secret-pass-1",
            "display_name": "y",
            "partner_id": partner["id"],
            "roles": ["partner_sales"],
            "active": False,
        },
    )
    found = call(
        service,
        "recipients",
        {"permission": "lead.claim", "partner_id": partner["id"]},
        caller=SYSTEM,
    )
    assert [r["id"] for r in found] == [sales["id"]]
    assert inactive["id"] not in [r["id"] for r in found]


def test_only_the_platform_may_resolve_callers(service) -> None:
    with pytest.raises(Forbidden):
        call(service, "get_caller", 1, caller=HQ)


def test_partner_user_reading_another_partner_gets_not_found(service) -> None:
    mine = new_partner(service, ["360100"])
    other = new_partner(service, ["360200"])
    me = Caller(user_id=99, partner_id=mine["id"], partner_ids=frozenset({mine["id"]}))
    assert call(service, "get_partner", mine["id"], caller=me)["id"] == mine["id"]
    with pytest.raises(NotFound):
        call(service, "get_partner", other["id"], caller=me)


def test_repeated_failed_sign_ins_are_slowed_down_for_that_address_only(service) -> None:
    user = call(
        service,
        "create_user",
        {
            "username": unique("rl"),
            "password": "secret-pass-1",
            "display_name": "r",
            "partner_id": None,
            "roles": ["marketing"],
        },
    )
    attempt = {"username": user["username"], "password": "wrong-password"}
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            call(service, "authenticate", attempt, "10.1.1.1", caller=SYSTEM)
    right = {"username": user["username"], "password": "secret-pass-1"}
    with pytest.raises(TooManyRequests):
        call(service, "authenticate", right, "10.1.1.1", caller=SYSTEM)
    # The real user, elsewhere, still gets in.
    assert (
        call(service, "authenticate", right, "10.2.2.2", caller=SYSTEM)["user"]["id"] == user["id"]
    )


def test_secrets_that_arrive_in_plain_text_are_refused(service) -> None:
    user = {
        "username": unique("pl"),
        "password": "secret-pass-1",
        "display_name": "p",
        "partner_id": None,
        "roles": ["marketing"],
    }
    with pytest.raises(InvalidInput) as refused:
        call(service, "create_user", user, seal=False)
    assert "password" in refused.value.errors
    created = call(service, "create_user", user)
    with pytest.raises(InvalidInput):
        call(service, "update_user", created["id"], {"password": "other-pass-22"}, seal=False)
    plain = {"username": user["username"], "password": "secret-pass-1"}
    with pytest.raises(InvalidInput):
        call(service, "authenticate", plain, caller=SYSTEM, seal=False)
    token = call(service, "authenticate", plain, caller=SYSTEM)["refresh_token"]
    with pytest.raises(InvalidInput):
        call(service, "refresh", {"refresh_token": token}, caller=SYSTEM, seal=False)


def test_personal_data_of_users_and_partners_is_sealed_masked_and_kept_out_of_events(
    service, engine
) -> None:
    from sqlalchemy import text

    partner = call(
        service,
        "create_partner",
        {
            "code": unique("S"),
            "name": "测试伙伴",
            "type": "city_partner",
            "territory": ["330200"],
            "contact_name": "王经理",
            "contact_phone": "13800138000",
            "contact_email": "wang@example.com",
        },
    )
    user = call(
        service,
        "create_user",
        {
            "username": unique("pii"),
            "password": "secret-pass-1",
            "display_name": "测试用户",
            "email": "li@example.com",
            "phone": "13900139000",
            "roles": ["marketing"],
        },
    )
    assert (user["email"], user["phone"]) == ("li@example.com", "13900139000")  # HQ admin
    user_manager = Caller(user_id=2, permissions=frozenset({"user.manage", "partner.manage"}))
    masked = call(service, "get_user", user["id"], caller=user_manager)
    assert (masked["email"], masked["phone"]) == ("l***@example.com", "139****9000")
    own = call(service, "get_user", user["id"], caller=Caller(user_id=user["id"]))
    assert (own["email"], own["phone"]) == ("li@example.com", "13900139000")
    shown = call(service, "get_partner", partner["id"], caller=user_manager)
    assert (shown["contact_name"], shown["contact_phone"], shown["contact_email"]) == (
        "王**",
        "138****8000",
        "w***@example.com",
    )
    with Session(engine) as session:
        stored = session.execute(
            text("SELECT email, phone FROM users WHERE id = :id"), {"id": user["id"]}
        ).one()
        contact = session.execute(
            text("SELECT contact_name, contact_phone, contact_email FROM partners WHERE id = :id"),
            {"id": partner["id"]},
        ).one()
        payloads = [str(e.payload) for e in session.scalars(select(OutboxEvent))]
    assert all(value.startswith("sealed:") for value in (*stored, *contact))
    for value in ("li@example.com", "13900139000", "王经理", "13800138000", "wang@example.com"):
        assert not any(value in payload for payload in payloads), value
