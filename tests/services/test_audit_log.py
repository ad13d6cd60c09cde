"""The audit log's store in the partners service: records appended once per event, chained
by their hashes, refused every UPDATE, DELETE and TRUNCATE by the database (PostgreSQL,
even for the superuser the tests sign in as; SQLite), and ``manage.py audit verify``
finding a record changed, removed or moved behind the triggers' back."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from services.common import audit as kit_audit
from services.common.context import Caller, sign_caller
from services.common.db import make_engine
from services.common.entrypoints import EventHandler
from services.common.errors import Forbidden, InvalidInput, Unauthenticated
from services.common.events import event_data, load_event, occurred_at
from services.common.migrations import upgrade
from services.common.models import OutboxEvent
from services.common.registry import NAMES
from services.common.schemas import load
from services.common.timeutil import iso, utcnow
from services.common.unit_of_work import UnitOfWork
from services.partners import audit, partners, roles, seed, signin, users
from services.partners.catalogue import ADMIN_PERMISSIONS
from services.partners.models import AuditRecord
from services.partners.schemas import (
    AuditListArgs,
    PartnerCreate,
    RoleCreate,
    RoleUpdate,
    UserCreate,
    UserUpdate,
)
from services.partners.service import PartnersService
from tests.support import infra
from tests.support.client import unique

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "partners" / "migrations"
HQ = Caller(user_id=1, permissions=frozenset(ADMIN_PERMISSIONS), address="203.0.113.7")
SYSTEM = Caller.system_caller("gateway")


def envelope(action: str = kit_audit.ROLES_CHANGED, **values: object) -> dict:
    """An ``audit_recorded`` event as a service's outbox sends it."""
    data = {
        "action": action,
        "actor_id": 7,
        "actor_partner_id": None,
        "actor_system": None,
        "address": "198.51.100.2",
        "subject_type": "user",
        "subject_id": "42",
        "detail": {"added": "finance", "removed": "", "own": False},
    } | values
    return {
        "id": str(uuid.uuid4()),
        "type": kit_audit.AUDIT_RECORDED,
        "source": "partners",
        "occurred_at": iso(utcnow()),
        "data": event_data(kit_audit.AuditRecorded, data),
    }


def uow_on(session: Session) -> UnitOfWork:
    return UnitOfWork(lambda: session, "partners")


def append(session: Session, event: dict, source: str = "partners") -> None:
    data = load_event(kit_audit.AuditRecorded, event)
    moment = utcnow()
    audit.append(uow_on(session), source, event["id"], moment, data)


def chain(session: Session) -> list[AuditRecord]:
    session.expire_all()
    return list(session.scalars(select(AuditRecord).order_by(AuditRecord.id)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    with infra.migrated_database("partners") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'partners.db'}"
    upgrade("partners", MIGRATIONS, url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request) -> str:
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")


@pytest.fixture
def session(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def behind_the_triggers(url: str, *statements: str) -> None:
    """Run ``statements`` as an owner who switched the triggers off: PostgreSQL's replica
    mode (which fires no ordinary trigger), SQLite's triggers dropped."""
    engine = make_engine(url)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_records_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_records_no_delete"))
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def verify_command(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "audit", "verify"],
        cwd=ROOT,
        env=os.environ | {"PARTNERS_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


# -- the store -------------------------------------------------------------------------------


def test_every_service_that_records_has_its_audit_events_kept() -> None:
    sources = {
        entrypoint.source_service
        for name in dir(PartnersService)
        for entrypoint in getattr(getattr(PartnersService, name), "nameko_entrypoints", ())
        if isinstance(entrypoint, EventHandler) and entrypoint.event_type == "audit_recorded"
    }
    assert sources == kit_audit.RECORDING_SERVICES
    assert sources <= set(NAMES)


def test_a_service_cannot_record_an_action_it_does_not_make(session: Session) -> None:
    # orders exports reports; it never signs anybody in nor reveals personal data
    for action in (kit_audit.SIGN_IN, kit_audit.PII_REVEALED):
        with pytest.raises(InvalidInput, match="does not record"):
            append(session, envelope(action), source="orders")
    assert chain(session) == []
    append(session, envelope(kit_audit.REPORT_EXPORTED), source="orders")
    assert [record.action for record in chain(session)] == [kit_audit.REPORT_EXPORTED]


def test_records_are_appended_once_per_event_and_chained(session: Session) -> None:
    first, second = envelope(), envelope(kit_audit.REPORT_EXPORTED, detail={})
    append(session, first)
    append(session, first)  # delivered again
    append(session, second, source="orders")
    append(session, first)  # replayed from the parked queue later

    records = chain(session)
    assert [(r.id, r.event_id, r.source) for r in records] == [
        (1, first["id"], "partners"),
        (2, second["id"], "orders"),
    ]
    assert records[0].prev_hash == audit.GENESIS
    assert records[1].prev_hash == records[0].hash
    for record in records:
        assert record.hash == audit.record_hash(record.prev_hash, record)
    assert records[0].detail == {"added": "finance", "removed": "", "own": False}
    assert records[0].address == "198.51.100.2" and records[0].actor_id == 7
    verdict = audit.verify(session)
    assert verdict.whole and verdict.count == 2 and verdict.head_hash == records[1].hash


def test_a_record_cannot_be_changed_or_removed_even_by_the_superuser(
    session: Session, url: str
) -> None:
    append(session, envelope())
    statements = [
        update(AuditRecord).values(detail={}),
        update(AuditRecord).values(hash=audit.GENESIS),
        delete(AuditRecord),
    ]
    if url.startswith("postgresql"):
        # The tests sign in to PostgreSQL as a superuser: privileges do not stop it, the
        # triggers do.
        assert session.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        statements.append(text("TRUNCATE audit_records"))
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(statement)
        session.rollback()
    assert len(chain(session)) == 1
    assert audit.verify(session).whole


def test_the_migration_revokes_changes_from_every_role_but_the_owner() -> None:
    """An application role given every right by default privileges keeps SELECT and
    INSERT on the log, never UPDATE, DELETE or TRUNCATE."""
    role = f"prm_test_app_{secrets.token_hex(4)}"
    name = f"prm_test_audit_grants_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE ROLE {role}"))
            connection.execute(text(f"ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO {role}"))
        upgrade("partners", MIGRATIONS, url)
        with engine.connect() as connection:
            rights = {
                right: connection.scalar(
                    text("SELECT has_table_privilege(:role, 'audit_records', :right)"),
                    {"role": role, "right": right},
                )
                for right in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            }
            users = connection.scalar(
                text("SELECT has_table_privilege(:role, 'users', 'UPDATE')"), {"role": role}
            )
        assert rights == {
            "SELECT": True,
            "INSERT": True,
            "UPDATE": False,
            "DELETE": False,
            "TRUNCATE": False,
        }
        assert users  # the other tables keep what the default privileges gave
        # The service, signed in as that role, appends (no FOR UPDATE, which would need the
        # UPDATE right) and reads; it cannot change a record.
        with engine.connect() as connection:
            connection.execute(text(f"SET ROLE {role}"))
            connection.commit()
            session = Session(bind=connection)
            assert session.scalar(text("SELECT current_user")) == role
            session.rollback()
            append(session, envelope())
            append(session, envelope())
            assert audit.verify(session).count == 2
            with pytest.raises(DBAPIError, match="permission denied"):
                session.execute(update(AuditRecord).values(detail={}))
            session.close()
            connection.rollback()
            connection.execute(text("RESET ROLE"))
            connection.commit()
    finally:
        engine.dispose()
        infra.drop_database(name)
        with infra._admin() as cursor:
            cursor.execute(f"DROP ROLE IF EXISTS {role}")


#: A process appending records to the log at ``argv[1]``, as a replica of partners would.
_APPENDER = """
import sys, uuid
from sqlalchemy.orm import Session
from services.common.audit import AuditRecorded, AUDIT_RECORDED
from services.common.db import make_engine
from services.common.events import event_data, load_event
from services.common.timeutil import iso, utcnow
from services.common.unit_of_work import UnitOfWork
from services.partners import audit

engine = make_engine(sys.argv[1])
data = event_data(AuditRecorded, {"action": "sign_in", "subject_type": "user", "detail": {}})
for _ in range(int(sys.argv[2])):
    with Session(engine) as session:
        event = {"id": str(uuid.uuid4()), "type": AUDIT_RECORDED, "data": data}
        audit.append(
            UnitOfWork(lambda: session, "partners"), "partners", event["id"], utcnow(),
            load_event(AuditRecorded, event),
        )
"""


def test_replicas_appending_at_once_make_one_line(pg_url: str) -> None:
    """Several processes append at the same moment: the lock makes them take turns, so the
    chain has no fork and no gap."""
    appenders = [
        subprocess.Popen(
            [sys.executable, "-W", "ignore", "-c", _APPENDER, pg_url, "15"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for appender in appenders:
        _, errors = appender.communicate(timeout=120)
        assert appender.returncode == 0, errors
    engine = make_engine(pg_url)
    with Session(engine) as session:
        verdict = audit.verify(session)
    engine.dispose()
    assert verdict.whole and verdict.count == 60 and verdict.head_id == 60


# -- audit verify ------------------------------------------------------------------------------


def test_verify_finds_a_record_edited_behind_the_triggers(session: Session, url: str) -> None:
    for _ in range(3):
        append(session, envelope())
    done = verify_command(url)
    assert done.returncode == 0, done.stderr
    assert "3 record(s)" in done.stdout

    behind_the_triggers(url, "UPDATE audit_records SET actor_id = 1 WHERE id = 2")

    verdict = audit.verify(session)
    assert (verdict.broken_id, verdict.count) == (2, 2)
    assert "changed" in verdict.reason
    done = verify_command(url)
    assert done.returncode == 1
    assert "broken at record 2" in done.stderr


def test_verify_finds_a_record_removed_or_moved(session: Session, url: str) -> None:
    for _ in range(4):
        append(session, envelope())

    behind_the_triggers(url, "DELETE FROM audit_records WHERE id = 2")
    verdict = audit.verify(session)
    assert verdict.broken_id == 3 and "missing" in verdict.reason

    # Closing the gap does not mend the chain: the link of the next record gives it away.
    behind_the_triggers(url, "UPDATE audit_records SET id = 2 WHERE id = 3")
    session.expire_all()
    verdict = audit.verify(session)
    assert verdict.broken_id == 2 and "link" in verdict.reason
    assert verify_command(url).returncode == 1


def test_verify_finds_two_records_swapped(session: Session, url: str) -> None:
    for _ in range(3):
        append(session, envelope())
    behind_the_triggers(
        url,
        "UPDATE audit_records SET id = 100 WHERE id = 2",
        "UPDATE audit_records SET id = 2 WHERE id = 3",
        "UPDATE audit_records SET id = 3 WHERE id = 100",
    )
    verdict = audit.verify(session)
    assert verdict.broken_id == 2 and not verdict.whole


def test_an_empty_log_is_whole(sqlite_url: str) -> None:
    done = verify_command(sqlite_url)
    assert done.returncode == 0, done.stderr
    assert "0 records" in done.stdout


# -- the service: consuming every service's records, recording, reading ----------------------


@pytest.fixture
def service(pg_url: str, container_factory, rabbit_config) -> Iterator:
    engine = make_engine(pg_url)
    with Session(engine) as session:
        seed.ensure_reference_data(session)
        session.commit()
    engine.dispose()
    container = container_factory(PartnersService, rabbit_config | {"DATABASE_URL": pg_url})
    container.start()
    yield container


def call(container, method: str, *args, caller: Caller = HQ):
    with entrypoint_hook(container, method, context_data={"caller": sign_caller(caller)}) as hook:
        return hook(*args)


def deliver(container, source: str, event: dict) -> None:
    with entrypoint_hook(container, f"on_{source}_audit_recorded") as hook:
        hook(event)


def test_each_services_records_are_kept_with_their_source_and_read_by_hq(service) -> None:
    event = envelope(kit_audit.REPORT_EXPORTED, subject_type="report", subject_id="sales")
    deliver(service, "orders", event)
    deliver(service, "commission", envelope(kit_audit.RATE_CHANGED, subject_type="rate_rule"))

    page = call(service, "list_audit", {"action": "report_exported"})
    assert page["total"] == 1
    item = page["items"][0]
    assert item["source"] == "orders" and item["subject_id"] == "sales"
    assert item["at"] == iso(datetime.fromisoformat(event["occurred_at"]))
    assert set(item) == {
        "id",
        "at",
        "source",
        "action",
        "actor_id",
        "actor_name",
        "actor_partner_id",
        "actor_system",
        "address",
        "subject_type",
        "subject_id",
        "detail",
    }
    assert call(service, "list_audit", {})["items"][0]["action"] == "rate_changed"  # newest


def test_only_hq_with_audit_read_reads_the_log(service) -> None:
    deliver(service, "filing", envelope(kit_audit.PII_REVEALED, subject_type="customer"))
    everything = frozenset(ADMIN_PERMISSIONS)
    partner_admin = Caller(
        user_id=5, partner_id=3, partner_ids=frozenset({3}), permissions=everything
    )
    hq_without = Caller(user_id=6, permissions=everything - {"audit.read"})
    for caller in (partner_admin, hq_without, Caller(user_id=9)):
        with pytest.raises(Forbidden):
            call(service, "list_audit", {}, caller=caller)


def relay(session: Session) -> None:
    """What the outbox relay would publish of the partners service's own records, kept as
    its handler keeps them."""
    session.expire_all()
    kept = set(session.scalars(select(AuditRecord.event_id)))
    rows = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.event_type == kit_audit.AUDIT_RECORDED)
        .order_by(OutboxEvent.id)
    ).all()
    for row in rows:
        if row.event_id not in kept:
            data = load_event(kit_audit.AuditRecorded, row.payload)
            audit.append(uow_on(session), "partners", row.event_id, occurred_at(row.payload), data)


def test_sign_ins_and_user_changes_are_recorded_without_secrets(pg_url: str) -> None:
    engine = make_engine(pg_url)
    session = Session(engine)
    seed.ensure_reference_data(session)
    seed.ensure_admin(session, "Lantern-quartz-9361")  # user 1, the HQ caller
    session.commit()
    password = "Quartz-lantern-8264"
    new = load(
        UserCreate,
        {
            "username": unique("aud"),
            "password": password,
            "display_name": "审计 测试",
            "roles": ["marketing"],
        },
    )
    user = users.create_user(uow_on(session), HQ, new)
    signin.authenticate(uow_on(session), user["username"], password, "192.0.2.10")
    with pytest.raises(Unauthenticated):
        signin.authenticate(uow_on(session), user["username"], "wrong-" + password, "192.0.2.11")
    with pytest.raises(Unauthenticated):
        signin.authenticate(uow_on(session), "nobody-" + password, "x", "192.0.2.12")
    for change in (
        {"roles": ["finance"], "display_name": "改名"},
        {"password": password[::-1] + "-9"},
        {"active": False},
    ):
        users.update_user(uow_on(session), HQ, user["id"], load(UserUpdate, change))
    relay(session)

    def read(**args: object) -> dict:
        return audit.list_records(uow_on(session), HQ, load(AuditListArgs, args))

    subject = {"subject_type": "user", "subject_id": str(user["id"]), "per_page": 100}
    items = read(**subject)["items"]
    actions = [item["action"] for item in reversed(items)]
    assert actions == [
        "user_created",
        "sign_in",
        "sign_in_failed",
        "roles_changed",
        "user_changed",
        "password_changed",
        "user_deactivated",
    ]
    by_action = {item["action"]: item for item in items}
    assert by_action["user_created"]["detail"] == {
        "partner_id": None,
        "roles": "marketing",
        "active": True,
    }
    signed_in = by_action["sign_in"]
    assert (signed_in["actor_id"], signed_in["address"]) == (user["id"], "192.0.2.10")
    assert signed_in["actor_name"] == "改名"
    failed = by_action["sign_in_failed"]
    assert failed["actor_id"] is None and failed["address"] == "192.0.2.11"
    assert failed["detail"] == {"reason": "wrong_password"}
    assert by_action["roles_changed"]["detail"] == {
        "added": "finance",
        "removed": "marketing",
        "roles": "finance",
    }
    assert by_action["roles_changed"]["actor_id"] == HQ.user_id
    assert by_action["roles_changed"]["address"] == HQ.address
    assert by_action["user_changed"]["detail"] == {"fields": "display_name"}
    assert by_action["password_changed"]["detail"] == {"own": False}

    unknown = read(action="sign_in_failed", per_page=100)["items"]
    assert {"reason": "unknown_user"} in [item["detail"] for item in unknown]
    everything = str(read(per_page=100))
    assert password not in everything and password[::-1] not in everything
    assert "nobody-" not in everything

    window = {
        "from": iso(utcnow() - timedelta(minutes=5)),
        "to": iso(utcnow() + timedelta(minutes=5)),
    }
    assert read(**subject, **window)["total"] == len(items)
    assert read(**subject, **{"from": iso(utcnow() + timedelta(minutes=1))})["total"] == 0
    mine = read(actor_id=user["id"])
    assert [item["action"] for item in mine["items"]] == ["sign_in"]
    assert audit.verify(session).whole
    session.close()
    engine.dispose()


def test_role_changes_and_terminations_are_recorded(pg_url: str) -> None:
    engine = make_engine(pg_url)
    session = Session(engine)
    seed.ensure_reference_data(session)
    session.commit()
    role = roles.create_role(
        uow_on(session),
        HQ,
        load(
            RoleCreate,
            {
                "code": unique("auditor"),
                "name": "审计员",
                "scope": "hq",
                "permissions": ["audit.read", "report.read"],
            },
        ),
    )
    change = {"permissions": ["audit.read", "commission.manage"], "name": "审计员"}
    roles.update_role(uow_on(session), HQ, role["id"], load(RoleUpdate, change))
    roles.update_role(uow_on(session), HQ, role["id"], load(RoleUpdate, change))  # no change
    partner = partners.create_partner(
        uow_on(session),
        HQ,
        load(PartnerCreate, {"code": unique("T"), "name": unique("终止"), "type": "city_partner"}),
    )
    partners.change_status(uow_on(session), HQ, partner["id"], "terminate")
    relay(session)

    def details(**args: object) -> list[tuple[str, dict]]:
        page = audit.list_records(uow_on(session), HQ, load(AuditListArgs, args))
        return [(item["action"], item["detail"]) for item in reversed(page["items"])]

    assert details(subject_type="role", subject_id=str(role["id"])) == [
        (
            "role_created",
            {
                "code": role["code"],
                "scope": "hq",
                "permissions": "audit.read,report.read",
                "include_sub_partners": False,
            },
        ),
        (
            "role_changed",
            {
                "code": role["code"],
                "fields": "permissions",
                "added": "commission.manage",
                "removed": "report.read",
            },
        ),
    ]
    assert details(subject_type="partner", subject_id=str(partner["id"])) == [
        ("partner_terminated", {"code": partner["code"], "type": "city_partner"})
    ]
    session.close()
    engine.dispose()


def test_a_long_list_of_codes_is_cut_to_fit_a_detail() -> None:
    codes = [f"permission.number{n:02}" for n in range(30)]
    shown = audit.code_list(codes)
    assert len(shown) <= 200 and shown.startswith("permission.number00,")
    kept = shown.split(",")[:-1]
    assert shown.endswith(f",+{30 - len(kept)}") and kept == sorted(codes)[: len(kept)]
    assert audit.code_list(["b", "a", "a"]) == "a,b" and audit.code_list([]) == ""
    kit_audit.AuditRecorded().load(
        {"action": "role_created", "subject_type": "role", "detail": {"permissions": shown}}
    )
