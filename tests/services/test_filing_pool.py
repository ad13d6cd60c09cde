"""The public pool (公海), follow-ups and idle release in the filing service on its own:
each method through Nameko's ``worker_factory``, with the partners service faked (its
terms as ``partners.partner_terms`` gives them) and a real PostgreSQL session rolled back
after each test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import audit
from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import Conflict, InvalidInput, InvalidState, NotFound
from services.common.migrations import upgrade
from services.common.regions import covers, specificity
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import handover, rules
from services.filing.events import EVENTS
from services.filing.models import Customer, CustomerKey, PoolMove
from services.filing.service import FilingService
from tests.support import infra
from tests.support.client import unique
from tests.support.concurrent_writers import second_writer_waits
from tests.support.fake_data import mobile, uscc

ROOT = Path(__file__).resolve().parents[2]
# Partner ids far above any the partners service hands out in this run: A the city partner
# of 杭州, B the Zhejiang agent, C 南京's partner, D a second 杭州 city partner.
A, B, C, D = 91_000_001, 91_000_002, 91_000_003, 91_000_004
TERRITORIES = {A: "330100", B: "330000", C: "320100", D: "330100"}
HQ = Caller(user_id=1, permissions=frozenset({"filing.approve", "customer.read"}))
SYSTEM = Caller.system_caller("filing")


def partner_caller(partner_id: int, user_id: int = 700) -> Caller:
    return Caller(
        user_id=user_id,
        partner_id=partner_id,
        partner_ids=frozenset({partner_id}),
        permissions=frozenset({"customer.create", "lead.claim", "pool.claim"}),
    )


class Terms:
    """The partners service's terms of each partner, changed by a test as HQ would."""

    def __init__(self) -> None:
        self.by_partner: dict[int, dict] = {
            pid: {
                "max_protected_customers": None,
                "protection_days": 180,
                "idle_release_days": None,
                "reclaim_cooldown_days": 30,
            }
            for pid in TERRITORIES
        }

    def row(self, partner_id: int, territory: str | None) -> dict:
        return {
            "partner_id": partner_id,
            "code": f"P{partner_id}",
            "type": "dealer",
            "territory_code": territory,
            "specificity": specificity(territory) if territory else 0,
            "claim_hours": 72,
            "grade": None,
            "lead_weight": 1,
            **self.by_partner[partner_id],
        }

    def covering(self, region: str) -> list[dict]:
        found = [self.row(p, code) for p, code in TERRITORIES.items() if covers(code, region)]
        return sorted(found, key=lambda t: (-t["specificity"], t["partner_id"]))

    def partner_terms(self, partner_id: int) -> dict | None:
        return self.row(partner_id, None) if partner_id in TERRITORIES else None

    def get_partner(self, partner_id: int) -> dict:
        return {"id": partner_id, "territory": [TERRITORIES[partner_id]]}


class Events(list):
    def of(self, kind: str) -> list[dict]:
        return [data for event_type, data in self if event_type == kind]


class RecordingUnitOfWork(UnitOfWork):
    """The worker's unit of work on the test's session, noting each event (which must load
    through its schema in events.py)."""

    def __init__(self, session: Session, events: Events) -> None:
        super().__init__(lambda: session, "filing")
        self.events = events

    def emit(self, event_type: str, data: dict) -> str:
        schema = audit.AuditRecorded if event_type == audit.AUDIT_RECORDED else EVENTS[event_type]
        assert schema().validate(data) == {}, (event_type, data)
        self.events.append((event_type, data))
        return super().emit(event_type, data)


@pytest.fixture(scope="module")
def engine():
    name = f"prm_test_filing_pool_{secrets.token_hex(4)}"
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
def terms() -> Terms:
    return Terms()


@pytest.fixture
def as_(session, events, terms):
    partners = mock.MagicMock()
    partners.partners_covering.side_effect = terms.covering
    partners.partner_terms.side_effect = terms.partner_terms
    partners.get_partner.side_effect = terms.get_partner

    def make(caller: Caller) -> FilingService:
        return worker_factory(
            FilingService,
            uow=RecordingUnitOfWork(session, events),
            caller=caller,
            partners=partners,
        )

    return make


def protected(as_, session, partner_id: int = A, region: str = "330106") -> Customer:
    payload = {
        "name": f"杭州{unique('p')}科技有限公司",
        "uscc": uscc(),
        "contact_name": "王经理",
        "phone": mobile(),
        "address": "文三路 90 号",
        "region_code": region,
        "industry": "软件",
    }
    customer = as_(partner_caller(partner_id)).file_customer(payload)
    as_(HQ).approve_filing(customer["filing"]["id"], {})
    return session.get(Customer, customer["id"])


def released(as_, session, partner_id: int = A, region: str = "330106") -> Customer:
    customer = protected(as_, session, partner_id, region)
    as_(partner_caller(partner_id)).release_customer(customer.id, {"reason": "不再跟进"})
    session.refresh(customer)
    return customer


def ago(session: Session, customer: Customer, **delta) -> None:
    """The customer's protection (and its last follow-up, if any) began ``delta`` ago."""
    customer.protection_started_at = utcnow() - timedelta(**delta)
    if customer.last_follow_up_at is not None:
        customer.last_follow_up_at = utcnow() - timedelta(**delta)
    session.commit()


# -- release ----------------------------------------------------------------------------


def test_the_owner_releases_a_protected_customer_to_the_pool(as_, session, events) -> None:
    customer = protected(as_, session)
    answer = as_(partner_caller(A)).release_customer(customer.id, {"reason": "客户已无需求"})
    assert answer["status"] == "released"
    session.refresh(customer)
    assert customer.released_at is not None
    assert (
        session.scalars(select(CustomerKey).where(CustomerKey.customer_id == customer.id)).all()
        == []
    )
    (move,) = session.scalars(select(PoolMove).where(PoolMove.customer_id == customer.id))
    assert (move.action, move.kind, move.partner_id, move.reason) == (
        "released",
        "owner",
        A,
        "客户已无需求",
    )
    (event,) = events.of("customer_released")
    assert (event["kind"], event["reason"], event["partner_id"]) == ("owner", "客户已无需求", A)
    assert ("customer_released", str(customer.id)) in [
        (d["action"], d["subject_id"]) for d in events.of("audit_recorded")
    ]


def test_another_partner_cannot_release_and_learns_nothing(as_, session) -> None:
    customer = protected(as_, session)
    with pytest.raises(NotFound):
        as_(partner_caller(D)).release_customer(customer.id, {"reason": "x"})
    with pytest.raises(NotFound):
        as_(partner_caller(D)).release_customer(10**12, {"reason": "x"})


def test_only_a_protected_customer_is_released_and_with_a_reason(as_, session) -> None:
    customer = released(as_, session)
    with pytest.raises(InvalidState):
        as_(partner_caller(A)).release_customer(customer.id, {"reason": "again"})
    other = protected(as_, session)
    for reason in ("", "   ", "a\u200bb", "x" * 501):
        with pytest.raises(InvalidInput):
            as_(partner_caller(A)).release_customer(other.id, {"reason": reason})


def test_a_pending_customer_is_not_released(as_, session) -> None:
    pending = as_(partner_caller(A)).file_customer(
        {
            "name": f"杭州{unique('q')}科技有限公司",
            "contact_name": "李",
            "phone": mobile(),
            "region_code": "330106",
        }
    )
    with pytest.raises(InvalidState):
        as_(partner_caller(A)).release_customer(pending["id"], {"reason": "x"})


# -- the pool ---------------------------------------------------------------------------


def test_the_pool_shows_covering_partners_their_region_only_masked(as_, session) -> None:
    hangzhou = released(as_, session, A, "330106")
    nanjing = released(as_, session, C, "320102")
    seen_by_d = {c["id"]: c for c in as_(partner_caller(D)).list_pool({})["items"]}
    assert hangzhou.id in seen_by_d and nanjing.id not in seen_by_d
    row = seen_by_d[hangzhou.id]
    assert "*" in row["phone"] and row["phone"] != hangzhou.phone
    assert row["released_by_partner_id"] is None
    seen_by_c = {c["id"] for c in as_(partner_caller(C)).list_pool({})["items"]}
    assert nanjing.id in seen_by_c and hangzhou.id not in seen_by_c
    seen_by_b = {c["id"] for c in as_(partner_caller(B)).list_pool({})["items"]}
    assert hangzhou.id in seen_by_b and nanjing.id not in seen_by_b
    hq = {c["id"]: c for c in as_(HQ).list_pool({"per_page": 100})["items"]}
    assert {hangzhou.id, nanjing.id} <= set(hq)
    assert hq[hangzhou.id]["released_by_partner_id"] == A


def test_the_pool_filters_by_region_name_and_industry(as_, session) -> None:
    customer = released(as_, session, A, "330106")
    pool = as_(partner_caller(D))
    assert customer.id in {c["id"] for c in pool.list_pool({"region_code": "330100"})["items"]}
    assert customer.id not in {c["id"] for c in pool.list_pool({"region_code": "330102"})["items"]}
    assert customer.id in {c["id"] for c in pool.list_pool({"q": customer.name[2:8]})["items"]}
    assert customer.id not in {c["id"] for c in pool.list_pool({"industry": "制造"})["items"]}
    assert customer.id in {c["id"] for c in pool.list_pool({"industry": "软件"})["items"]}


def test_a_partner_without_pool_claim_reads_no_pool(as_, session) -> None:
    viewer = Caller(user_id=9, partner_id=D, partner_ids=frozenset({D}))
    with pytest.raises(Exception) as caught:
        as_(viewer).list_pool({})
    assert getattr(caught.value, "status", None) == 403


# -- claiming -----------------------------------------------------------------------------


def test_a_covering_partner_claims_a_released_customer_protected_at_once(
    as_, session, events, terms
) -> None:
    terms.by_partner[D]["protection_days"] = 90
    customer = released(as_, session, A)
    answer = as_(partner_caller(D)).claim_pool_customer(customer.id)
    assert (answer["status"], answer["source"], answer["owner_partner_id"]) == (
        "protected",
        "partner",
        D,
    )
    session.refresh(customer)
    assert customer.protected_until - customer.protection_started_at == timedelta(days=90)
    assert session.scalars(select(CustomerKey).where(CustomerKey.customer_id == customer.id)).all()
    (claimed,) = events.of("customer_claimed")
    assert claimed["partner_id"] == D
    # The releaser no longer sees it; a second claim finds it taken.
    with pytest.raises(NotFound):
        as_(partner_caller(A)).get_customer(customer.id)
    with pytest.raises(Conflict) as caught:
        as_(partner_caller(B)).claim_pool_customer(customer.id)
    assert caught.value.code == "already_claimed"


def test_a_claim_outside_the_territory_or_of_a_customer_never_released_is_not_found(
    as_, session
) -> None:
    customer = released(as_, session, A)
    with pytest.raises(NotFound):
        as_(partner_caller(C)).claim_pool_customer(customer.id)
    never = protected(as_, session, A)
    with pytest.raises(NotFound):
        as_(partner_caller(D)).claim_pool_customer(never.id)
    with pytest.raises(NotFound):
        as_(partner_caller(D)).claim_pool_customer(10**12)


def test_a_partner_at_its_cap_cannot_claim(as_, session, terms) -> None:
    customer = released(as_, session, A)
    protected(as_, session, D)
    terms.by_partner[D]["max_protected_customers"] = 1
    with pytest.raises(Conflict) as caught:
        as_(partner_caller(D)).claim_pool_customer(customer.id)
    assert caught.value.code == "claim_limit_reached"
    terms.by_partner[D]["max_protected_customers"] = 2
    assert as_(partner_caller(D)).claim_pool_customer(customer.id)["owner_partner_id"] == D


def test_the_releaser_waits_its_cooldown_others_do_not(as_, session, terms) -> None:
    customer = released(as_, session, A)
    with pytest.raises(Conflict) as caught:
        as_(partner_caller(A)).claim_pool_customer(customer.id)
    assert caught.value.code == "cooldown"
    move = session.scalars(select(PoolMove).where(PoolMove.customer_id == customer.id)).one()
    move.at = utcnow() - timedelta(days=31)
    session.commit()
    assert as_(partner_caller(A)).claim_pool_customer(customer.id)["owner_partner_id"] == A


def test_a_partner_that_let_the_protection_expire_waits_its_cooldown(as_, session) -> None:
    customer = protected(as_, session, A)
    customer.protected_until = utcnow() - timedelta(minutes=1)
    session.flush()
    as_(SYSTEM).housekeeping()
    session.refresh(customer)
    assert customer.status == "released"
    with pytest.raises(Conflict) as caught:
        as_(partner_caller(A)).claim_pool_customer(customer.id)
    assert caught.value.code == "cooldown"
    assert as_(partner_caller(D)).claim_pool_customer(customer.id)["owner_partner_id"] == D


def test_a_claim_of_a_company_filed_again_meanwhile_is_a_filing_conflict(as_, session) -> None:
    customer = released(as_, session, A)
    as_(partner_caller(B)).file_customer(
        {
            "name": customer.name,
            "contact_name": "赵",
            "phone": mobile(),
            "region_code": "330106",
        }
    )
    with pytest.raises(Conflict) as caught:
        as_(partner_caller(D)).claim_pool_customer(customer.id)
    assert caught.value.code == "filing_conflict"


# -- follow-ups and idle release ----------------------------------------------------------


def test_the_owner_records_follow_ups_read_newest_first(as_, session) -> None:
    customer = protected(as_, session)
    owner = as_(partner_caller(A))
    first = owner.add_follow_up(customer.id, {"kind": "visit", "body": "上门拜访\n约下周演示"})
    second = owner.add_follow_up(
        customer.id, {"kind": "call", "body": "电话", "next_at": "2030-01-01T00:00:00Z"}
    )
    assert (second["kind"], second["next_at"], second["created_by"]) == (
        "call",
        "2030-01-01T00:00:00Z",
        700,
    )
    page = owner.list_follow_ups(customer.id, {})
    assert [f["id"] for f in page["items"]] == [second["id"], first["id"]]
    assert [f["id"] for f in as_(HQ).list_follow_ups(customer.id, {})["items"]] == [
        second["id"],
        first["id"],
    ]
    with pytest.raises(NotFound):
        as_(partner_caller(D)).list_follow_ups(customer.id, {})
    with pytest.raises(NotFound):
        as_(partner_caller(D)).add_follow_up(customer.id, {"kind": "call", "body": "x"})
    for bad in (
        {"kind": "lunch", "body": "x"},
        {"kind": "call", "body": ""},
        {"kind": "call", "body": "x" * 2001},
        {"kind": "call", "body": "a\u202eb"},
    ):
        with pytest.raises(InvalidInput):
            owner.add_follow_up(customer.id, bad)


def test_idle_release_is_off_without_idle_days(as_, session) -> None:
    customer = protected(as_, session)
    ago(session, customer, days=400)
    as_(SYSTEM).housekeeping()
    session.refresh(customer)
    assert customer.status == "protected"


def test_an_idle_customer_is_announced_once_then_released(as_, session, events, terms) -> None:
    terms.by_partner[A]["idle_release_days"] = 30
    customer = protected(as_, session)
    ago(session, customer, days=25)
    worker = as_(SYSTEM)
    worker.housekeeping()
    worker.housekeeping()
    session.refresh(customer)
    assert customer.status == "protected"
    (near,) = [e for e in events.of("idle_release_near") if e["customer_id"] == customer.id]
    assert near["partner_id"] == A
    ago(session, customer, days=31)
    worker.housekeeping()
    session.refresh(customer)
    assert customer.status == "released"
    (release,) = [e for e in events.of("customer_released") if e["customer_id"] == customer.id]
    assert (release["kind"], release["reason"]) == ("idle", "idle")
    move = session.scalars(select(PoolMove).where(PoolMove.customer_id == customer.id)).one()
    assert (move.kind, move.partner_id) == ("idle", A)


def test_a_follow_up_keeps_idle_release_from_firing(as_, session, events, terms) -> None:
    terms.by_partner[A]["idle_release_days"] = 30
    customer = protected(as_, session)
    ago(session, customer, days=40)
    as_(partner_caller(A)).add_follow_up(customer.id, {"kind": "visit", "body": "拜访"})
    as_(SYSTEM).housekeeping()
    session.refresh(customer)
    assert customer.status == "protected"
    assert [e for e in events.of("customer_released") if e["customer_id"] == customer.id] == []


def test_a_new_owner_starts_its_own_idle_period_without_the_old_follow_ups(
    as_, session, terms
) -> None:
    terms.by_partner[D]["idle_release_days"] = 30
    customer = protected(as_, session, A)
    as_(partner_caller(A)).add_follow_up(customer.id, {"kind": "visit", "body": "A 的拜访"})
    as_(partner_caller(A)).release_customer(customer.id, {"reason": "不做了"})
    as_(partner_caller(D)).claim_pool_customer(customer.id)
    session.refresh(customer)
    assert customer.last_follow_up_at is None
    assert rules.idle_since(customer) == customer.protection_started_at
    assert as_(partner_caller(D)).list_follow_ups(customer.id, {})["items"] == []
    assert len(as_(HQ).list_follow_ups(customer.id, {})["items"]) == 1


# -- two claims at once -----------------------------------------------------------------------


def test_a_claim_waiting_for_another_claims_lock_finds_the_customer_taken(engine, terms) -> None:
    """While a first claim holds the customer's row lock (here made by hand: the customer
    becomes B's), a second claim waits for it on PostgreSQL, then reads the row afresh and
    is told the customer is taken (409 ``already_claimed``); B keeps it."""
    partners = mock.MagicMock()
    partners.partners_covering.side_effect = terms.covering
    partners.partner_terms.side_effect = terms.partner_terms

    def worker(session: Session, caller: Caller) -> FilingService:
        uow = RecordingUnitOfWork(session, Events())
        return worker_factory(FilingService, uow=uow, caller=caller, partners=partners)

    with Session(engine) as setup:
        customer_id = released(lambda caller: worker(setup, caller), setup, A).id
    with Session(engine) as first:
        held = first.get(Customer, customer_id, with_for_update=True)
        thread, errors = second_writer_waits(
            engine,
            lambda session: worker(session, partner_caller(D)).claim_pool_customer(customer_id),
        )
        rules.claim_from_pool(held, B, 180, utcnow())
        first.commit()
    thread.join(30)
    assert [getattr(error, "code", None) for error in errors] == ["already_claimed"]
    with Session(engine) as check:
        assert check.get(Customer, customer_id).owner_partner_id == B


# -- a terminated partner's handover ------------------------------------------------------------


def test_a_customer_approved_while_a_handover_batch_runs_is_handed_over_next(
    as_, session, events, terms
) -> None:
    """A filing approved between a handover batch's read and its write makes a protected
    customer that batch never saw: the batch does not say the handover is done, and the
    next one passes the customer on."""
    kept = protected(as_, session, A)
    payload = {
        "name": f"杭州{unique('h')}科技有限公司",
        "uscc": uscc(),
        "contact_name": "李经理",
        "phone": mobile(),
        "region_code": "330106",
    }
    pending = as_(partner_caller(A)).file_customer(payload)
    worker = as_(SYSTEM)
    uow = worker.uow

    def covering_meanwhile(region: str) -> list[dict]:
        # Between the batch's read and its write: HQ approves A's pending filing.
        if not covering_meanwhile.approved:
            covering_meanwhile.approved = True
            as_(HQ).approve_filing(pending["filing"]["id"], {})
        return terms.covering(region)

    covering_meanwhile.approved = False
    progress = handover.first_progress(
        A, {"customers": "transfer", "to_partner_id": D, "reason": "合作终止"}
    )
    first = handover.hand_over(uow, progress, covering_meanwhile, terms.partner_terms)
    assert first["transferred"] == 1
    assert events.of("partner_handover_continued") and not events.of("partner_handover_done")
    session.expire_all()
    assert session.get(Customer, kept.id).owner_partner_id == D
    assert session.get(Customer, pending["id"]).owner_partner_id == A  # not seen yet

    second = handover.hand_over(uow, first, terms.covering, terms.partner_terms)
    assert second["transferred"] == 2
    assert events.of("partner_handover_done")
    session.expire_all()
    assert session.get(Customer, pending["id"]).owner_partner_id == D
