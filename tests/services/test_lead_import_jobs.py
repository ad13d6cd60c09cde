"""Lead imports as jobs, in the filing service on PostgreSQL: an import's id makes it once,
its rows wait sealed until imported in batches, its progress and refused rows are told
by row, and an import interrupted mid-way goes on without creating any lead twice."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import Conflict, Forbidden, InvalidInput, ServiceUnavailable
from services.common.migrations import upgrade
from services.common.models import OutboxEvent
from services.common.regions import covers, specificity
from services.common.sealing import SealedJSON
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import imports
from services.filing.models import Lead, LeadImport, LeadImportRow
from services.filing.service import FilingService
from tests.support import infra
from tests.support.client import unique
from tests.support.fake_data import mobile

ROOT = Path(__file__).resolve().parents[2]
A, B = 91_000_001, 91_000_002  # the city partner of 杭州, the Zhejiang agent
TERRITORIES = {A: "330100", B: "330000"}
HQ = Caller(user_id=1, permissions=frozenset({"lead.create"}))
OTHER_HQ = Caller(user_id=2, permissions=frozenset({"lead.create"}))
PARTNER = Caller(
    user_id=500, partner_id=A, partner_ids=frozenset({A}), permissions=frozenset({"lead.claim"})
)
SYSTEM = Caller.system_caller("filing")


def covering(region: str) -> list[dict]:
    found = [
        {"partner_id": pid, "territory_code": code, "protection_days": 180, "claim_hours": 72}
        for pid, code in TERRITORIES.items()
        if covers(code, region)
    ]
    return sorted(found, key=lambda t: -specificity(t["territory_code"]))


def resolve_addresses(query: dict) -> list[dict]:
    return [
        {"province": "330000", "city": "330100", "district": "330106"}
        if "杭州" in address
        else {"province": None, "city": None, "district": None}
        for address in query["addresses"]
    ]


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def engine(request, tmp_path_factory):
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(infra.migrated_database("filing"))
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('imports') / 'filing.db'}"
            upgrade("filing", ROOT / "services" / "filing" / "migrations", url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


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
def partners() -> mock.MagicMock:
    fake = mock.MagicMock()
    fake.partners_covering.side_effect = covering
    fake.partner_terms.return_value = None
    fake.resolve_addresses.side_effect = resolve_addresses
    return fake


@pytest.fixture
def as_(session, partners):
    def make(caller: Caller) -> FilingService:
        return worker_factory(
            FilingService,
            uow=UnitOfWork(lambda: session, "filing"),
            caller=caller,
            partners=partners,
        )

    return make


@pytest.fixture
def small_batches(monkeypatch) -> int:
    """Batches of three rows, so that a file of a few rows takes several."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 3)
    monkeypatch.setattr(imports, "SQLITE_BATCH_ROWS", 3)
    return 3


def rows_of(count: int, first_row: int = 2, **extra) -> list[dict]:
    return [
        {
            "name": f"{unique('导入')}有限公司",
            "contact_name": "李总",
            "phone": mobile(),
            "region_code": "330106",
            "_row": first_row + i,
            **extra,
        }
        for i in range(count)
    ]


def leads_of(session: Session, rows: list[dict]) -> list[Lead]:
    names = [row["name"] for row in rows]
    return list(session.scalars(select(Lead).where(Lead.name.in_(names))))


def run_once(as_, partners) -> bool:
    """One tick of the import timer that works on one batch only."""
    return imports.run_imports(
        as_(SYSTEM).uow,
        partners.partners_covering,
        partners.partner_terms,
        partners.resolve_addresses,
        budget=0,
    )


def test_an_import_is_queued_then_run_in_the_background_and_tells_its_summary(as_, session) -> None:
    rows = rows_of(2) + rows_of(1, first_row=4, region_code="110000")
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": rows})
    assert (job["status"], job["received"], job["done"], job["created"]) == ("queued", 3, 0, 0)
    assert leads_of(session, rows) == []

    as_(SYSTEM).run_lead_imports()
    done = as_(HQ).get_lead_import(job["id"])
    assert done["status"] == "done"
    assert (done["total"], done["done"], done["created"]) == (3, 3, 3)
    assert (done["assigned"], done["unassigned"], done["errors"]) == (2, 1, [])
    made = {lead.name: lead for lead in leads_of(session, rows)}
    assert [made[row["name"]].assigned_partner_id for row in rows] == [A, A, None]
    assert all(lead.created_by == HQ.user_id for lead in made.values())


def test_the_same_id_twice_is_one_import(as_, session) -> None:
    rows = rows_of(2)
    job_id = unique("imp")
    first = as_(HQ).start_lead_import({"id": job_id, "rows": [dict(r) for r in rows]})
    again = as_(HQ).start_lead_import({"id": job_id, "rows": [dict(r) for r in rows]})
    assert again["id"] == first["id"] == job_id
    as_(SYSTEM).run_lead_imports()
    after = as_(HQ).start_lead_import({"id": job_id, "rows": [dict(r) for r in rows]})
    assert (after["status"], after["created"]) == ("done", 2)
    assert len(leads_of(session, rows)) == 2
    count = session.scalar(
        select(func.count()).select_from(LeadImport).where(LeadImport.job_id == job_id)
    )
    assert count == 1


def test_the_same_id_for_other_rows_or_by_another_user_is_refused(as_) -> None:
    job_id, rows = unique("imp"), rows_of(1)
    as_(HQ).start_lead_import({"id": job_id, "rows": [dict(r) for r in rows]})
    with pytest.raises(InvalidInput) as other_rows:
        as_(HQ).start_lead_import({"id": job_id, "rows": rows_of(1)})
    assert other_rows.value.code == "idempotency_key_reused"
    with pytest.raises(InvalidInput) as other_user:
        as_(OTHER_HQ).start_lead_import({"id": job_id, "rows": [dict(r) for r in rows]})
    assert other_user.value.code == "idempotency_key_reused"


def test_the_same_file_under_another_id_is_refused_and_keeps_nothing(as_, session) -> None:
    rows = rows_of(2)
    as_(HQ).start_lead_import({"id": unique("imp"), "rows": [dict(r) for r in rows]})
    as_(SYSTEM).run_lead_imports()
    second = unique("imp")
    with pytest.raises(Conflict, match=r"imported already on .* \(2 leads created\)"):
        as_(HQ).start_lead_import({"id": second, "rows": [dict(r) for r in rows]})
    assert len(leads_of(session, rows)) == 2
    assert session.scalar(select(LeadImport).where(LeadImport.job_id == second)) is None


def test_a_file_in_parts_is_queued_by_its_last_part_and_a_part_sent_again_is_kept_once(
    as_, session
) -> None:
    rows = rows_of(5)
    job_id = unique("imp")
    part = {"id": job_id, "total": 5, "last": False}
    first = as_(HQ).start_lead_import({**part, "rows": [dict(r) for r in rows[:2]]})
    assert (first["status"], first["received"], first["total"]) == ("receiving", 2, 5)
    with pytest.raises(InvalidInput, match="rows from 2 are expected"):
        as_(HQ).add_lead_import_rows({**part, "offset": 4, "rows": [dict(rows[4])]})
    as_(HQ).add_lead_import_rows({**part, "offset": 2, "rows": [dict(r) for r in rows[2:4]]})
    again = as_(HQ).add_lead_import_rows(
        {**part, "offset": 2, "rows": [dict(r) for r in rows[2:4]]}
    )
    assert (again["status"], again["received"]) == ("receiving", 4)
    last = as_(HQ).add_lead_import_rows(
        {**part, "offset": 4, "rows": [dict(rows[4])], "last": True}
    )
    assert (last["status"], last["received"]) == ("queued", 5)
    as_(SYSTEM).run_lead_imports()
    assert as_(HQ).get_lead_import(job_id)["created"] == 5
    assert sorted(lead.name for lead in leads_of(session, rows)) == sorted(
        row["name"] for row in rows
    )


def test_waiting_rows_are_stored_sealed(as_, session) -> None:
    [row] = rows_of(1)
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": [dict(row)]})
    [stored] = session.execute(
        text(
            "SELECT r.data FROM lead_import_rows r JOIN lead_imports i ON i.id = r.import_id"
            " WHERE i.job_id = :job_id"
        ),
        {"job_id": job["id"]},
    ).scalars()
    assert stored.startswith("sealed:")
    assert row["phone"] not in stored and row["contact_name"] not in stored


def test_waiting_rows_are_kept_a_batch_together_and_rows_kept_alone_still_import(
    as_, partners, session, small_batches
) -> None:
    rows = rows_of(7)
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": [dict(r) for r in rows]})
    kept = session.scalars(
        select(LeadImportRow.position)
        .join(LeadImport, LeadImport.id == LeadImportRow.import_id)
        .where(LeadImport.job_id == job["id"])
        .order_by(LeadImportRow.position)
    ).all()
    assert kept == [0, 3, 6]
    # An import whose rows the version before kept, one by one, as plain sealed JSON: they
    # are imported a batch of them at a time.
    alone = rows_of(5, first_row=20)
    earlier = as_(HQ).start_lead_import({"id": unique("imp"), "rows": [dict(r) for r in alone]})
    key = session.scalar(select(LeadImport.id).where(LeadImport.job_id == earlier["id"]))
    session.execute(delete(LeadImportRow).where(LeadImportRow.import_id == key))
    session.execute(
        text("INSERT INTO lead_import_rows (import_id, position, data) VALUES (:key, :at, :row)"),
        [
            {"key": key, "at": i, "row": SealedJSON().process_bind_param(dict(row), None)}
            for i, row in enumerate(alone)
        ],
    )
    while as_(HQ).get_lead_import(job["id"])["status"] != "done":
        run_once(as_, partners)
    assert [run_once(as_, partners) for _ in range(2)] == [True, True]
    assert as_(HQ).get_lead_import(earlier["id"])["done"] == 5  # two batches, not five
    while run_once(as_, partners):
        pass
    for made, sent in ((job, rows), (earlier, alone)):
        done = as_(HQ).get_lead_import(made["id"])
        assert (done["status"], done["done"], done["created"]) == ("done", len(sent), len(sent))
        assert len(leads_of(session, sent)) == len(sent)


def test_progress_is_told_batch_by_batch(as_, partners, session, small_batches) -> None:
    rows = rows_of(7)
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": rows})
    assert run_once(as_, partners) is True
    seen = as_(HQ).get_lead_import(job["id"])
    assert (seen["status"], seen["done"], seen["created"], seen["assigned"]) == (
        "running",
        3,
        3,
        3,
    )
    assert len(leads_of(session, rows)) == 3
    run_once(as_, partners)
    assert as_(HQ).get_lead_import(job["id"])["done"] == 6
    run_once(as_, partners)
    run_once(as_, partners)  # finds no row left: done
    done = as_(HQ).get_lead_import(job["id"])
    assert (done["status"], done["done"], done["created"]) == ("done", 7, 7)
    assert done["finished_at"] is not None


def test_refused_rows_are_told_by_number_and_only_the_first_are_kept(
    as_, session, monkeypatch, small_batches
) -> None:
    monkeypatch.setattr(imports, "IMPORT_ERRORS_KEPT", 3)
    good = rows_of(2)
    bad = rows_of(4, first_row=10, phone="not a phone")
    twin = {**good[0], "_row": 20}
    rows = [good[0], *bad, good[1], {"contact_name": "无名", "phone": mobile(), "_row": 21}]
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": [*rows, twin]})
    as_(SYSTEM).run_lead_imports()
    done = as_(HQ).get_lead_import(job["id"])
    assert (done["created"], done["errors_total"]) == (2, 6)
    assert [(e["row"], sorted(e["errors"])) for e in done["errors"]] == [
        (10, ["phone"]),
        (11, ["phone"]),
        (12, ["phone"]),
    ]
    # The same row later in the file, in another batch, names the lead it made.
    assert len(leads_of(session, good)) == 2


def test_an_import_interrupted_mid_way_goes_on_without_creating_a_lead_twice(
    as_, partners, session, small_batches
) -> None:
    # Regions named by the address only: each batch asks the partners service for them.
    rows = rows_of(8, region_code="", address="浙江省杭州市西湖区文三路1号")
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": rows})
    # A runner takes the import, writes a batch and stops (its process killed): its hold
    # stays until its lease passes, and no other run takes the import before.
    uow = as_(SYSTEM).uow
    runner = "stopped-runner"
    job_key = imports._claim(uow, runner)
    with uow:
        assigner = imports.Assigner(uow.session, covering, partners.partner_terms)
    assert imports._import_batch(uow, job_key, runner, assigner, resolve_addresses) is True
    assert run_once(as_, partners) is False
    assert as_(HQ).get_lead_import(job["id"])["done"] == 3

    session.execute(
        text("UPDATE lead_imports SET lease_until = :past WHERE id = :id"),
        {"past": utcnow() - timedelta(seconds=1), "id": job_key},
    )
    session.commit()  # within the test's transaction
    # The next run takes it over; the partners service goes away in its second batch:
    # the import pauses, and the run after goes on.
    calls = []

    def away_once(query: dict) -> list[dict]:
        calls.append(query)
        if len(calls) == 2:
            raise ServiceUnavailable("the partners service is not available")
        return resolve_addresses(query)

    partners.resolve_addresses.side_effect = away_once
    as_(SYSTEM).run_lead_imports()
    paused = as_(HQ).get_lead_import(job["id"])
    assert (paused["status"], paused["done"]) == ("running", 6)
    as_(SYSTEM).run_lead_imports()
    done = as_(HQ).get_lead_import(job["id"])
    assert (done["status"], done["done"], done["created"], done["errors"]) == ("done", 8, 8, [])
    assert done["assigned"] == 8
    made = leads_of(session, rows)
    assert sorted(lead.name for lead in made) == sorted(row["name"] for row in rows)
    left = session.scalar(
        text("SELECT count(*) FROM lead_import_rows WHERE import_id = :id"), {"id": job_key}
    )
    assert left == 0


def test_a_row_another_import_created_meanwhile_is_refused_and_made_once(
    as_, session, monkeypatch
) -> None:
    shared = rows_of(1)[0]
    first_rows = [*rows_of(1), dict(shared, _row=3)]
    first = as_(HQ).start_lead_import({"id": unique("imp"), "rows": first_rows})
    second = as_(HQ).start_lead_import({"id": unique("imp"), "rows": [dict(shared, _row=2)]})
    write = imports._write_batch

    def second_runs_between_reads_and_writes(*args, **kwargs) -> None:
        monkeypatch.setattr(imports, "_write_batch", write)
        as_(SYSTEM).run_lead_imports()  # the first import is held: the second is run
        assert as_(HQ).get_lead_import(second["id"])["created"] == 1
        write(*args, **kwargs)

    monkeypatch.setattr(imports, "_write_batch", second_runs_between_reads_and_writes)
    as_(SYSTEM).run_lead_imports()
    done = as_(HQ).get_lead_import(first["id"])
    (made,) = leads_of(session, [shared])
    assert (done["status"], done["done"], done["created"]) == ("done", 2, 1)
    assert done["errors"] == [
        {"row": 3, "errors": {"_schema": [imports.IMPORTED_AS.format(made.id)]}}
    ]


def test_a_partner_user_sees_no_import(as_) -> None:
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": rows_of(1)})
    with pytest.raises(Forbidden):
        as_(PARTNER).get_lead_import(job["id"])
    with pytest.raises(Forbidden):
        as_(PARTNER).list_lead_imports({})
    with pytest.raises(Forbidden):
        as_(PARTNER).start_lead_import({"id": unique("imp"), "rows": rows_of(1)})


def test_imports_are_listed_most_recent_first_without_their_errors(as_) -> None:
    first = as_(HQ).start_lead_import({"id": unique("imp"), "rows": rows_of(1)})
    second = as_(HQ).start_lead_import({"id": unique("imp"), "rows": rows_of(1, phone="x")})
    page = as_(HQ).list_lead_imports({"status": "queued", "per_page": 50})
    ids = [item["id"] for item in page["items"]]
    assert ids.index(second["id"]) < ids.index(first["id"])
    assert all("errors" not in item for item in page["items"])


def test_an_import_tells_each_partner_once_per_batch_not_once_per_lead(
    as_, partners, session, small_batches
) -> None:
    """Batches of three: rows 1-3 to A (杭州), 4-6 to B (宁波) and back to HQ (北京),
    7 to A. One ``leads_assigned`` per partner and batch, naming its leads, and one
    ``leads_unassigned`` per batch for the leads nobody covers; no event per lead."""
    rows = [
        *rows_of(3),
        *rows_of(2, first_row=5, region_code="330200"),
        *rows_of(1, first_row=7, region_code="110000"),
        *rows_of(1, first_row=8),
    ]
    job = as_(HQ).start_lead_import({"id": unique("imp"), "rows": rows})
    while run_once(as_, partners):
        pass
    leads = {lead.name: lead for lead in leads_of(session, rows)}
    events = session.scalars(
        select(OutboxEvent)
        .where(
            OutboxEvent.event_type.in_(
                ["leads_assigned", "lead_assigned", "lead_unassigned", "leads_unassigned"]
            )
        )
        .where(
            OutboxEvent.payload["data"]["lead_id"]
            .as_integer()
            .in_([lead.id for lead in leads.values()])
        )
        .order_by(OutboxEvent.id)
    ).all()
    told = [(event.event_type, event.payload["data"]) for event in events]
    first_three = sorted(leads[row["name"]].id for row in rows[:3])
    beijing = leads[rows[5]["name"]]
    assert [(kind, data.get("partner_id"), data.get("lead_ids")) for kind, data in told] == [
        ("leads_assigned", A, first_three),
        ("leads_assigned", B, sorted(leads[row["name"]].id for row in rows[3:5])),
        ("leads_unassigned", None, [beijing.id]),
        ("leads_assigned", A, [leads[rows[6]["name"]].id]),
    ]
    back = told[2][1]
    assert (back["count"], back["lead_name"], back["import_id"]) == (1, beijing.name, job["id"])
    batch = told[0][1]
    assert (batch["count"], batch["lead_id"], batch["import_id"]) == (3, first_three[0], job["id"])
    assert batch["lead_name"] == next(n for n, lead in leads.items() if lead.id == first_three[0])
    assert batch["claim_deadline"] is not None
