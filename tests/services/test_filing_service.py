"""The filing service on its own: each method through Nameko's ``worker_factory``, with the
partners service faked and a real PostgreSQL session that is rolled back after each test."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.common import audit
from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidState,
    NotFound,
    ServiceTimeout,
)
from services.common.migrations import upgrade
from services.common.regions import covers, specificity
from services.common.timeutil import iso, utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import housekeeping, rules
from services.filing.events import EVENTS
from services.filing.keys import normalise_name
from services.filing.models import Customer, CustomerKey, Lead, Transfer
from services.filing.service import FilingService
from tests.support import infra
from tests.support.client import unique
from tests.support.events import approved_event
from tests.support.fake_data import mobile, uscc

ROOT = Path(__file__).resolve().parents[2]
# Partner ids far above any the partners service hands out in this run.
A, B, C = 90_000_001, 90_000_002, 90_000_003
HQ = Caller(
    user_id=1,
    permissions=frozenset({"filing.approve", "customer.transfer", "lead.create", "flow.manage"}),
)


def partner_caller(partner_id: int, user_id: int = 500) -> Caller:
    return Caller(
        user_id=user_id,
        partner_id=partner_id,
        partner_ids=frozenset({partner_id}),
        permissions=frozenset({"customer.create", "lead.claim"}),
    )


def terms(partner_id: int, territory: str, protection_days: int = 180, claim_hours=72) -> dict:
    return {
        "partner_id": partner_id,
        "territory_code": territory,
        "protection_days": protection_days,
        "claim_hours": claim_hours,
    }


# The fake partners service: A is the city partner of 杭州, B the Zhejiang agent, C 南京.
TERRITORIES = {A: "330100", B: "330000", C: "320100"}


def covering(region: str, protection_days: int = 180) -> list[dict]:
    found = [
        terms(pid, code, protection_days)
        for pid, code in TERRITORIES.items()
        if covers(code, region)
    ]
    return sorted(found, key=lambda t: -specificity(t["territory_code"]))


def partner_terms(partner_id: int) -> dict | None:
    return terms(partner_id, None) if partner_id in TERRITORIES else None


def reload(session: Session, row) -> None:
    """What the worker changed, as the database has it (the worker's commit flushes too)."""
    session.flush()
    session.refresh(row)


class Events(list):
    """What the workers added to the outbox, as a list of (event type, data)."""

    def types(self) -> list[str]:
        return [event_type for event_type, _ in self]


class RecordingUnitOfWork(UnitOfWork):
    """The worker's unit of work on the test's session, noting each event it emits."""

    def __init__(self, session: Session, events: Events) -> None:
        super().__init__(lambda: session, "filing")
        self.events = events

    def emit(self, event_type: str, data: dict) -> str:
        # Every event kind emitted has its schema in events.py (the audit trail's in the
        # kit), and its data loads through it.
        schema = audit.AuditRecorded if event_type == audit.AUDIT_RECORDED else EVENTS[event_type]
        assert schema().validate(data) == {}, (event_type, data)
        self.events.append((event_type, data))
        return super().emit(event_type, data)


@pytest.fixture(scope="module")
def engine():
    """A database of the module's own: the e2e stack's filing service works on the run's
    filing database, and its housekeeping timer would hold the advisory lock that
    ``housekeeping`` here needs (it would then do nothing) and change rows it looks at."""
    name = f"prm_test_filing_svc_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    upgrade("filing", ROOT / "services" / "filing" / "migrations", url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    infra.drop_database(name)


@pytest.fixture
def session(engine) -> Iterator[Session]:
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def partners() -> mock.MagicMock:
    fake = mock.MagicMock()
    fake.partners_covering.side_effect = covering
    fake.partner_terms.side_effect = partner_terms
    fake.resolve_address.return_value = {"province": None, "city": None, "district": None}
    fake.resolve_addresses.side_effect = lambda query: [
        {"province": None, "city": None, "district": None} for _ in query["addresses"]
    ]
    return fake


@pytest.fixture
def as_(session, events, partners):
    """A worker of the filing service acting for ``caller``."""

    def make(caller: Caller) -> FilingService:
        return worker_factory(
            FilingService,
            uow=RecordingUnitOfWork(session, events),
            caller=caller,
            partners=partners,
        )

    return make


def customer_payload(**extra) -> dict:
    return {
        "name": f"杭州{unique('c')}科技有限公司",
        "uscc": uscc(),
        "contact_name": "王经理",
        "phone": mobile(),
        "region_code": "330106",
        **extra,
    }


# -- filing -----------------------------------------------------------------------------


def test_filed_customer_is_pending_with_a_running_flow_and_the_event_is_written(
    as_, events
) -> None:
    customer = as_(partner_caller(A)).file_customer(customer_payload())
    assert customer["status"] == "pending"
    assert customer["source"] == "partner"
    assert customer["owner_partner_id"] == A
    assert customer["filing"]["status"] == "pending"
    assert [s["status"] for s in customer["filing"]["steps"]] == ["pending"]
    assert customer["filing"]["steps"][0]["permission"] == "filing.approve"
    assert events.types() == ["filing_submitted"]
    assert events[0][1]["customer_id"] == customer["id"]


def test_pending_customer_blocks_another_partner_without_saying_who_holds_it(as_) -> None:
    payload = customer_payload()
    held = as_(partner_caller(A)).file_customer(payload)
    rival = customer_payload(
        name=payload["name"].replace("有限公司", "股份有限公司"), region_code="330102"
    )
    with pytest.raises(Conflict) as refused:
        as_(partner_caller(B)).file_customer(rival)
    assert refused.value.code == "filing_conflict"
    said = repr(refused.value.args)
    for secret in (str(A), str(held["id"]), payload["name"]):
        assert secret not in said


def test_same_partner_filing_again_is_told_it_already_has_the_customer(as_) -> None:
    payload = customer_payload()
    as_(partner_caller(A)).file_customer(payload)
    with pytest.raises(Conflict) as refused:
        as_(partner_caller(A)).file_customer(payload | {"uscc": None})
    assert refused.value.code == "already_filed"


def test_filing_outside_the_territory_is_refused(as_, session) -> None:
    payload = customer_payload()
    with pytest.raises(InvalidInput) as refused:
        as_(partner_caller(C)).file_customer(payload)
    assert refused.value.code == "region_not_in_territory"
    assert session.scalar(select(Customer).where(Customer.name == payload["name"])) is None


def test_invalid_uscc_is_refused_before_anything_is_written(as_) -> None:
    payload = customer_payload()
    payload["uscc"] = payload["uscc"][:17] + ("0" if payload["uscc"][17] != "0" else "1")
    with pytest.raises(InvalidInput) as refused:
        as_(partner_caller(A)).file_customer(payload)
    assert "uscc" in refused.value.errors


def test_user_without_customer_create_cannot_file(as_) -> None:
    caller = Caller(user_id=9, partner_id=A, partner_ids=frozenset({A}))
    with pytest.raises(Forbidden):
        as_(caller).file_customer(customer_payload())


def test_check_answers_only_yes_or_no(as_) -> None:
    payload = customer_payload()
    as_(partner_caller(A)).file_customer(payload)
    assert as_(partner_caller(B)).check_customer({"name": payload["name"]}) == {"conflict": True}
    assert as_(partner_caller(B)).check_customer({"name": unique("无人")}) == {"conflict": False}


# -- approval ---------------------------------------------------------------------------


def test_approval_protects_for_the_protection_days_of_the_partners_type(
    as_, partners, events
) -> None:
    partners.partners_covering.side_effect = lambda region: covering(region, protection_days=30)
    customer = as_(partner_caller(A)).file_customer(customer_payload())
    filing = as_(HQ).approve_filing(customer["filing"]["id"], {"comment": "ok"})
    assert filing["status"] == "approved"
    after = as_(partner_caller(A)).get_customer(customer["id"])
    assert after["status"] == "protected"
    decided = filing["decided_at"]
    assert after["protected_until"] == iso(
        utcnow().fromisoformat(decided.replace("Z", "+00:00")) + timedelta(days=30)
    )
    assert "filing_approved" in events.types()


def test_partner_user_cannot_approve(as_) -> None:
    customer = as_(partner_caller(A)).file_customer(customer_payload())
    with pytest.raises(Forbidden):
        as_(partner_caller(A)).approve_filing(customer["filing"]["id"], {})


def test_whoever_filed_a_customer_approves_no_step_of_its_filing(as_) -> None:
    """Segregation of duties: were the filer ever to hold ``filing.approve`` at
    headquarters, its own filing is still not its to decide."""
    filer = partner_caller(A, user_id=501)
    customer = as_(filer).file_customer(customer_payload())
    same_person = Caller(user_id=501, permissions=HQ.permissions)
    with pytest.raises(Forbidden) as refused:
        as_(same_person).approve_filing(customer["filing"]["id"], {})
    assert refused.value.code == "same_approver"
    assert as_(HQ).approve_filing(customer["filing"]["id"], {})["status"] == "approved"


def test_approving_a_decided_filing_is_invalid_state(as_) -> None:
    customer = as_(partner_caller(A)).file_customer(customer_payload())
    as_(HQ).approve_filing(customer["filing"]["id"], {})
    with pytest.raises(InvalidState):
        as_(HQ).approve_filing(customer["filing"]["id"], {})


def test_rejection_needs_a_comment_and_then_frees_the_customer(as_, session) -> None:
    payload = customer_payload()
    customer = as_(partner_caller(A)).file_customer(payload)
    with pytest.raises(InvalidInput):
        as_(HQ).reject_filing(customer["filing"]["id"], {"comment": "  "})
    filing = as_(HQ).reject_filing(customer["filing"]["id"], {"comment": "资料不全"})
    assert filing["status"] == "rejected"
    assert as_(partner_caller(A)).get_customer(customer["id"])["status"] == "rejected"
    keys = session.scalars(
        select(CustomerKey).where(CustomerKey.customer_id == customer["id"])
    ).all()
    assert keys == []
    again = as_(partner_caller(B)).file_customer(payload | {"region_code": "330206"})
    assert again["status"] == "pending"


# -- protection lifecycle ---------------------------------------------------------------


def _protected(as_, session, payload=None) -> Customer:
    customer = as_(partner_caller(A)).file_customer(payload or customer_payload())
    as_(HQ).approve_filing(customer["filing"]["id"], {})
    return session.get(Customer, customer["id"])


def test_housekeeping_releases_expired_customers_to_the_public_pool(as_, session, events) -> None:
    payload = customer_payload()
    customer = _protected(as_, session, payload)
    customer.protected_until = utcnow() - timedelta(minutes=1)
    session.flush()
    as_(Caller.system_caller("filing")).housekeeping()
    reload(session, customer)
    assert customer.status == "released"
    assert ("customer_released", customer.id) in [(t, d.get("customer_id")) for t, d in events]
    assert ("customer_released", str(customer.id), None) in [
        (d["action"], d["subject_id"], d["actor_id"]) for t, d in events if t == "audit_recorded"
    ]
    again = as_(partner_caller(B)).file_customer(payload | {"region_code": "330206"})
    assert again["owner_partner_id"] == B


def test_housekeeping_reminds_once_before_protection_ends(as_, session, events) -> None:
    customer = _protected(as_, session)
    customer.protected_until = utcnow() + timedelta(days=3)
    session.flush()
    worker = as_(Caller.system_caller("filing"))
    worker.housekeeping()
    worker.housekeeping()
    reload(session, customer)
    assert customer.status == "protected"
    assert customer.reminder_sent_at is not None
    reminders = [d for t, d in events if t == "protection_ending"]
    assert [d["customer_id"] for d in reminders] == [customer.id]


def test_approved_order_extends_protection_only_for_the_owner(as_, session) -> None:
    customer = _protected(as_, session)
    soon = utcnow() + timedelta(days=5)
    customer.protected_until, customer.reminder_sent_at = soon, utcnow()
    session.flush()
    system = as_(Caller.system_caller("filing"))
    approved_at = utcnow()

    def order_approved(partner_id: int) -> dict:
        event = approved_event(partner_id, at=iso(approved_at))
        event["data"]["customer_id"] = customer.id
        return event

    system.on_order_approved(order_approved(B))
    reload(session, customer)
    assert customer.protected_until == soon
    system.on_order_approved(order_approved(A))
    reload(session, customer)
    assert abs(customer.protected_until - (approved_at + timedelta(days=180))) < timedelta(
        seconds=1
    )
    assert customer.reminder_sent_at is None


def test_transfer_moves_the_owner_and_keeps_an_audit_row(as_, session, events) -> None:
    customer = _protected(as_, session)
    with pytest.raises(Forbidden):
        as_(partner_caller(A)).transfer_customer(customer.id, {"partner_id": B, "reason": "x"})
    moved = as_(HQ).transfer_customer(customer.id, {"partner_id": B, "reason": "区域调整"})
    assert moved["owner_partner_id"] == B
    audit = session.scalars(select(Transfer).where(Transfer.customer_id == customer.id)).all()
    assert [(t.from_partner_id, t.to_partner_id, t.reason) for t in audit] == [(A, B, "区域调整")]
    with pytest.raises(NotFound):
        as_(partner_caller(A)).get_customer(customer.id)
    assert "customer_transferred" in events.types()
    recorded = [d for t, d in events if t == "audit_recorded"]
    assert [(d["action"], d["subject_id"], d["actor_id"], d["detail"]) for d in recorded] == [
        (
            "customer_transferred",
            str(customer.id),
            HQ.user_id,
            {"from_partner_id": A, "to_partner_id": B},
        )
    ]


# -- personal data ----------------------------------------------------------------------


def revealing(caller: Caller) -> Caller:
    return dataclasses.replace(caller, permissions=caller.permissions | {"customer.pii.reveal"})


def test_personal_data_is_stored_sealed_and_answered_masked_without_the_permission(
    as_, session
) -> None:
    payload = customer_payload(contact_name="王经理", address="杭州市西湖区文三路90号")
    masked = as_(partner_caller(A)).file_customer(payload)
    phone = payload["phone"]
    assert (masked["contact_name"], masked["phone"], masked["address"]) == (
        "王**",
        f"{phone[:3]}****{phone[-4:]}",
        "杭州市西湖区****",
    )
    shown = as_(revealing(partner_caller(A))).get_customer(masked["id"])
    assert (shown["contact_name"], shown["phone"]) == ("王经理", phone)
    stored = session.execute(
        text("SELECT contact_name, phone, address, phone_index FROM customers WHERE id = :id"),
        {"id": masked["id"]},
    ).one()
    assert all(value.startswith("sealed:") for value in stored[:3])
    assert phone not in stored.phone_index
    keys = session.scalars(
        select(CustomerKey.value).where(
            CustomerKey.customer_id == masked["id"], CustomerKey.kind == "phone"
        )
    ).all()
    assert keys == [stored.phone_index], "the phone key is its blind index, not the number"


def test_a_customer_is_found_by_its_whole_phone_in_any_spelling(as_) -> None:
    payload = customer_payload()
    filed = as_(partner_caller(A)).file_customer(payload)
    phone = payload["phone"]
    for query in (phone, f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"):
        found = as_(revealing(partner_caller(A))).list_customers(
            {"q": query, "page": 1, "per_page": 5}
        )
        assert [c["id"] for c in found["items"]] == [filed["id"]]
    assert as_(revealing(HQ)).list_customers({"q": phone[2:], "per_page": 5})["total"] == 0


def test_a_reveal_answers_the_contact_data_and_is_audited(as_, events) -> None:
    payload = customer_payload(address="杭州市西湖区文三路90号")
    filed = as_(partner_caller(A)).file_customer(payload)
    shown = as_(revealing(partner_caller(A))).reveal_customer(filed["id"], {"reason": "回访客户"})
    assert shown == {
        "id": filed["id"],
        "contact_name": payload["contact_name"],
        "phone": payload["phone"],
        "address": "杭州市西湖区文三路90号",
    }
    recorded = [d for t, d in events if t == "audit_recorded"]
    assert [(d["action"], d["subject_id"], d["detail"]) for d in recorded] == [
        ("pii_revealed", str(filed["id"]), {"reason": "回访客户"})
    ]
    with pytest.raises(Forbidden):
        as_(partner_caller(A)).reveal_customer(filed["id"], {"reason": "回访客户"})
    with pytest.raises(NotFound):
        as_(revealing(partner_caller(C))).reveal_customer(filed["id"], {"reason": "回访客户"})
    with pytest.raises(InvalidInput):
        as_(revealing(partner_caller(A))).reveal_customer(filed["id"], {"reason": "x"})


def test_transfer_to_a_partner_outside_the_region_is_refused(as_, session) -> None:
    customer = _protected(as_, session)
    with pytest.raises(InvalidInput) as refused:
        as_(HQ).transfer_customer(customer.id, {"partner_id": C, "reason": "x"})
    assert refused.value.code == "region_not_in_territory"


# -- leads ------------------------------------------------------------------------------


def lead_id(session, payload: dict) -> int:
    return session.scalar(select(Lead.id).where(Lead.name == payload["name"]))


def lead_payload(**extra) -> dict:
    return {"name": f"{unique('线索')}有限公司", "contact_name": "李总", "phone": mobile(), **extra}


def test_lead_goes_to_the_city_partner_with_its_claim_deadline(as_) -> None:
    lead = as_(HQ).create_lead(lead_payload(region_code="330106"))
    assert lead["status"] == "assigned"
    assert lead["assigned_partner_id"] == A
    assert lead["claim_deadline"] == iso(
        utcnow().fromisoformat(lead["assigned_at"].replace("Z", "+00:00")) + timedelta(hours=72)
    )


def test_leads_are_found_by_name_or_whole_phone_within_what_the_caller_sees(as_) -> None:
    marker = unique("寻")
    payload = lead_payload(name=f"{marker}_50%有限公司", region_code="330106")
    lead = as_(HQ).create_lead(payload)
    twin = as_(HQ).create_lead(lead_payload(name=f"{marker}X50有限公司", region_code="330106"))
    phone = payload["phone"]
    spelt = f"+86 {phone[:3]} {phone[3:7]}-{phone[7:]}"
    for query in (phone, spelt, f"{marker}_50%", f"{marker}_"):
        found = as_(revealing(HQ)).list_leads({"q": query})["items"]
        assert [x["id"] for x in found] == [lead["id"]]
    # the phone is sealed: found whole (by its blind index), never by a part
    assert as_(revealing(HQ)).list_leads({"q": phone[3:]})["total"] == 0
    # "_" and "%" are searched for, not wildcards that would match the twin's "X"
    assert {x["id"] for x in as_(HQ).list_leads({"q": marker})["items"]} == {
        lead["id"],
        twin["id"],
    }
    assert as_(partner_caller(A)).list_leads({"q": marker})["total"] == 2
    assert as_(partner_caller(C)).list_leads({"q": marker})["total"] == 0


def test_claim_makes_an_hq_customer_protected_for_the_partner(as_, session) -> None:
    lead = as_(HQ).create_lead(lead_payload(region_code="330106"))
    customer = as_(partner_caller(A)).claim_lead(lead["id"])
    assert (customer["source"], customer["status"], customer["owner_partner_id"]) == (
        "hq",
        "protected",
        A,
    )
    assert session.get(Lead, lead["id"]).status == "claimed"
    assert (
        session.scalar(
            select(CustomerKey.customer_id).where(
                CustomerKey.kind == "name", CustomerKey.value == normalise_name(lead["name"])
            )
        )
        == customer["id"]
    )


def test_a_partner_never_reads_a_leads_contact_nor_finds_it_by_phone(as_) -> None:
    # Before a claim it could read the contact and decline; after one the customer holds
    # the contact (and stops showing it to a partner it is transferred away from).
    payload = lead_payload(region_code="330106")
    lead = as_(HQ).create_lead(payload)
    sales = revealing(partner_caller(A))
    masked = (("李*", f"{payload['phone'][:3]}****{payload['phone'][-4:]}"),)
    offered = as_(sales).get_lead(lead["id"])
    assert ((offered["contact_name"], offered["phone"]),) == masked
    # an exact search would turn the masked phone back into the number in 10,000 guesses
    assert as_(sales).list_leads({"q": payload["phone"]})["total"] == 0

    customer = as_(sales).claim_lead(lead["id"])

    claimed = as_(sales).get_lead(lead["id"])
    assert ((claimed["contact_name"], claimed["phone"]),) == masked
    assert as_(sales).get_customer(customer["id"])["phone"] == payload["phone"]
    assert as_(revealing(HQ)).get_lead(lead["id"])["phone"] == payload["phone"]


def test_only_a_caller_who_sees_phones_finds_customers_by_phone(as_) -> None:
    body = customer_payload()
    filed = as_(revealing(partner_caller(A))).file_customer(body)
    assert as_(HQ).list_customers({"q": body["phone"]})["total"] == 0  # sees phones masked
    found = as_(revealing(HQ)).list_customers({"q": body["phone"]})["items"]
    assert [c["id"] for c in found] == [filed["id"]]


def test_decline_needs_a_reason_and_never_returns_the_lead_to_the_decliner(as_) -> None:
    lead = as_(HQ).create_lead(lead_payload(region_code="330106"))
    with pytest.raises(InvalidInput):
        as_(partner_caller(A)).decline_lead(lead["id"], {"reason": " "})
    told = as_(partner_caller(A)).decline_lead(lead["id"], {"reason": "不做这个行业"})
    assert told == {"id": lead["id"], "status": "declined"}
    assert as_(HQ).get_lead(lead["id"])["assigned_partner_id"] == B
    as_(partner_caller(B)).decline_lead(lead["id"], {"reason": "忙"})
    after = as_(HQ).get_lead(lead["id"])
    assert (after["status"], after["assigned_partner_id"]) == ("unassigned", None)
    assert [e["action"] for e in after["history"]] == [
        "assigned",
        "declined",
        "assigned",
        "declined",
        "unassigned",
    ]


def test_housekeeping_passes_an_expired_claim_to_the_next_partner(as_, session) -> None:
    lead = as_(HQ).create_lead(lead_payload(region_code="330106"))
    row = session.get(Lead, lead["id"])
    row.claim_deadline = utcnow() - timedelta(seconds=1)
    session.flush()
    as_(Caller.system_caller("filing")).housekeeping()
    after = as_(HQ).get_lead(lead["id"])
    assert after["assigned_partner_id"] == B
    assert [(e["action"], e["partner_id"]) for e in after["history"]] == [
        ("assigned", A),
        ("expired", A),
        ("assigned", B),
    ]


def test_a_tick_partners_do_not_answer_asks_once_and_the_replica_steps_aside(
    as_, session, partners, monkeypatch
) -> None:
    # Leads of three regions whose claim deadline passed: a tick asks partners who covers
    # each region. While partners does not answer, each call waits out its timeout with
    # the advisory lock held; asking once per lead let a replica cut off from partners
    # hold the lock nearly all the time, and the other replica never moved a lead on.
    monkeypatch.setitem(housekeeping._stepping_aside, "ticks", 0)
    leads = [
        as_(HQ).create_lead(lead_payload(region_code=region))["id"]
        for region in ("330106", "330212", "320102")
    ]
    for lead_id in leads:
        session.get(Lead, lead_id).claim_deadline = utcnow() - timedelta(seconds=1)
    session.flush()
    partners.partners_covering.reset_mock()
    partners.partners_covering.side_effect = ServiceTimeout("partners did not answer in time")
    timer = as_(Caller.system_caller("filing"))

    timer.housekeeping()
    assert partners.partners_covering.call_count == 1
    assert {as_(HQ).get_lead(i)["history"][-1]["action"] for i in leads} == {"assigned"}

    # The next ticks are the other replica's: this one does not even take the lock.
    for _ in range(housekeeping.STEP_ASIDE_TICKS):
        timer.housekeeping()
    assert partners.partners_covering.call_count == 1

    partners.partners_covering.side_effect = covering
    timer.housekeeping()
    assert [as_(HQ).get_lead(i)["history"][-2]["action"] for i in leads] == ["expired"] * 3


def test_a_partner_is_reminded_once_of_several_claim_deadlines_near(as_, session, events) -> None:
    # An import gives a partner its leads together, and their deadlines come together:
    # one reminder names them all. A partner with one lead near its deadline is told of it.
    of_a = [as_(HQ).create_lead(lead_payload(region_code="330106"))["id"] for _ in range(3)]
    of_c = as_(HQ).create_lead(lead_payload(region_code="320102"))["id"]
    soon = utcnow() + timedelta(hours=rules.DEADLINE_REMINDER_HOURS - 1)
    for lead_id in [*of_a, of_c]:
        session.get(Lead, lead_id).claim_deadline = soon
    session.flush()
    del events[:]
    timer = as_(Caller.system_caller("filing"))

    timer.housekeeping()
    timer.housekeeping()
    reminders = [(kind, data) for kind, data in events if "deadline" in kind]
    assert [(kind, data["partner_id"]) for kind, data in reminders] == [
        ("lead_claim_deadlines_near", A),
        ("lead_claim_deadline_near", C),
    ]
    bulk, single = reminders[0][1], reminders[1][1]
    assert (bulk["count"], bulk["lead_ids"], bulk["lead_id"]) == (3, of_a, of_a[0])
    assert bulk["claim_deadline"] == iso(soon)
    assert single["lead_id"] == of_c


def imported(as_, payload: dict) -> dict:
    """The rows imported as the gateway hands them (one part) and the filing service's
    import timer runs them: the import at its end."""
    job_id = unique("import")
    as_(HQ).start_lead_import({"id": job_id, **payload})
    as_(Caller.system_caller("filing")).run_lead_imports()
    return as_(HQ).get_lead_import(job_id)


def test_the_same_rows_are_imported_once(as_, session) -> None:
    rows = [{**lead_payload(region_code="330106"), "_row": 2}, {**lead_payload(), "_row": 3}]
    names = [row["name"] for row in rows]
    first = imported(as_, {"rows": [dict(row) for row in rows]})
    assert first["created"] == 2

    with pytest.raises(Conflict, match=r"imported already on .* \(2 leads created\)"):
        imported(as_, {"rows": [dict(row) for row in rows]})
    made = session.scalars(select(Lead.name).where(Lead.name.in_(names))).all()
    assert sorted(made) == sorted(names)

    # One more line in the file makes it another import: only the new row is created,
    # the rows imported before are reported.
    more = [*rows, {**lead_payload(), "_row": 4}]
    again = imported(as_, {"rows": [dict(row) for row in more]})
    assert again["created"] == 1
    assert [(e["row"], e["errors"]["_schema"]) for e in again["errors"]] == [
        (2, [f"this lead was imported already (lead {lead_id(session, rows[0])})"]),
        (3, [f"this lead was imported already (lead {lead_id(session, rows[1])})"]),
    ]
    made = session.scalars(select(Lead.name).where(Lead.name.in_(names))).all()
    assert sorted(made) == sorted(names)


def test_a_corrected_file_uploaded_again_creates_only_the_corrected_rows(as_, session) -> None:
    good, fixed = lead_payload(region_code="330106"), lead_payload(region_code="330106")
    first = imported(
        as_, {"rows": [{**good, "_row": 2}, {**fixed, "phone": "not-a-phone", "_row": 3}]}
    )
    assert (first["created"], [e["row"] for e in first["errors"]]) == (1, [3])
    # The same file with row 3 mended, a blank line before it, and row 2 twice.
    second = imported(
        as_, {"rows": [{**good, "_row": 2}, {**fixed, "_row": 4}, {**fixed, "_row": 5}]}
    )
    assert second["created"] == 1
    assert [(e["row"], e["errors"]["_schema"]) for e in second["errors"]] == [
        (2, [f"this lead was imported already (lead {lead_id(session, good)})"]),
        (5, ["the same lead as row 4"]),
    ]
    for payload in (good, fixed):
        assert (
            session.scalar(
                select(func.count()).select_from(Lead).where(Lead.name == payload["name"])
            )
            == 1
        )


def test_rows_that_created_nothing_may_be_sent_again(as_) -> None:
    rows = [{**lead_payload(phone="not-a-phone"), "_row": 2}]
    for _ in range(2):
        result = imported(as_, {"rows": [dict(row) for row in rows]})
        assert (result["created"], [e["row"] for e in result["errors"]]) == (0, [2])


def test_import_reports_bad_rows_by_number_and_creates_only_good_ones(as_, session) -> None:
    good = [lead_payload(region_code="330106"), lead_payload(region_code="110000")]
    bad = lead_payload(phone="not-a-phone")
    rows = [
        {**good[0], "_row": 2},
        {**bad, "_row": 3},
        {**good[1], "_row": 5},
        {"contact_name": "无名", "phone": mobile(), "_row": 6},
    ]
    result = imported(as_, {"rows": rows})
    assert (result["created"], result["assigned"], result["unassigned"]) == (2, 1, 1)
    assert [(e["row"], sorted(e["errors"])) for e in result["errors"]] == [
        (3, ["phone"]),
        (6, ["name"]),
    ]
    names = set(session.scalars(select(Lead.name).where(Lead.created_by == HQ.user_id)))
    assert {good[0]["name"], good[1]["name"]} <= names
    assert bad["name"] not in names


# -- near matches shown to approvers ----------------------------------------------------


def test_approver_sees_a_near_match_of_another_partner_and_why(as_) -> None:
    stem = unique("c")
    held = as_(partner_caller(A)).file_customer(
        customer_payload(name=f"杭州{stem}西湖科技有限公司", address="文三路 90 号 A 座")
    )
    filed = as_(partner_caller(B)).file_customer(
        customer_payload(
            name=f"杭州{stem}西湖网络科技有限公司", region_code="330102", address="文三路90号a座"
        )
    )
    seen = as_(HQ).get_filing(filed["filing"]["id"])
    [match] = seen["near_matches"]
    assert match["customer_id"] == held["id"]
    assert match["customer_name"] == held["name"]
    assert match["partner_id"] == A
    assert match["same_address"] is True and "same_phone" not in match
    assert match["similarity"] >= 0.85
    assert match["reason"] == f"名称相似度 {match['similarity']:.2f}，地址相同"
    listed = as_(HQ).list_filings({"partner_id": B, "per_page": 100})["items"]
    assert next(f for f in listed if f["id"] == filed["filing"]["id"])["near_matches"] == [match]


def test_the_filing_partner_and_hq_users_who_do_not_approve_never_see_near_matches(as_) -> None:
    stem = unique("c")
    held = as_(partner_caller(A)).file_customer(customer_payload(name=f"杭州{stem}西湖科技"))
    filed = as_(partner_caller(B)).file_customer(
        customer_payload(name=f"杭州{stem}西湖新科技", region_code="330102")
    )
    assert as_(HQ).get_filing(filed["filing"]["id"])["near_matches"] != []
    marketing = Caller(user_id=2, permissions=frozenset({"lead.create"}))
    views = [
        filed,
        as_(partner_caller(B)).get_filing(filed["filing"]["id"]),
        as_(partner_caller(B)).get_customer(filed["id"]),
        as_(partner_caller(B)).list_filings({"per_page": 100}),
        as_(partner_caller(B)).list_customers({"per_page": 100}),
        as_(marketing).get_filing(filed["filing"]["id"]),
    ]
    for view in views:
        text = repr(view)
        assert "near_matches" not in text
        assert held["name"] not in text and str(A) not in text


def test_near_matches_are_customers_of_other_partners_in_the_same_city_only(as_) -> None:
    stem = unique("c")
    as_(partner_caller(A)).file_customer(customer_payload(name=f"{stem}西湖科技"))
    as_(partner_caller(C)).file_customer(
        customer_payload(name=f"{stem}西湖新科技", region_code="320102")
    )
    own = as_(partner_caller(A)).file_customer(customer_payload(name=f"{stem}西湖网络科技"))
    assert as_(HQ).get_filing(own["filing"]["id"])["near_matches"] == []
    elsewhere = as_(partner_caller(B)).file_customer(
        customer_payload(name=f"{stem}西湖数码科技", region_code="330203")
    )
    assert as_(HQ).get_filing(elsewhere["filing"]["id"])["near_matches"] == []


def test_a_different_company_of_the_city_is_no_near_match(as_) -> None:
    as_(partner_caller(A)).file_customer(customer_payload(name=f"杭州{unique('c')}贸易有限公司"))
    filed = as_(partner_caller(B)).file_customer(
        customer_payload(name=f"杭州{unique('d')}餐饮管理有限公司", region_code="330102")
    )
    assert as_(HQ).get_filing(filed["filing"]["id"])["near_matches"] == []
