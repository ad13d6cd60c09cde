"""The HQ admins on a partners database of each test's own, on SQLite and PostgreSQL: the
last active admin stays one, and ``manage.py admin restore|create`` mends an installation
where nobody can act as an admin any more."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import Conflict, Forbidden
from services.common.migrations import upgrade
from services.common.unit_of_work import UnitOfWork
from services.partners import seed, signin, users
from services.partners.catalogue import ADMIN_PERMISSIONS, ADMIN_ROLE, HQ
from services.partners.models import Role, User
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
RESTORED_PASSWORD = "mended-after-lockout-7319"


def uow(session: Session) -> UnitOfWork:
    """A unit of work on the test's session, as the service's worker has on its own."""
    return UnitOfWork(lambda: session, "partners")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'partners.db'}"
        name = None
    else:
        name = f"prm_test_admins_{secrets.token_hex(4)}"
        url = infra.create_database(name)
    upgrade("partners", ROOT / "services" / "partners" / "migrations", url)
    engine = make_engine(url)
    with Session(engine) as session:
        seed.ensure_reference_data(session)
        seed.ensure_admin(session, "Quartz-lantern-8264")
        session.commit()
    engine.dispose()
    yield url
    if name:
        infra.drop_database(name)


@pytest.fixture
def session(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def admin_caller(user: dict) -> Caller:
    return Caller(user_id=user["id"], permissions=frozenset(ADMIN_PERMISSIONS))


def new_user(session: Session, roles: list[str], username: str | None = None) -> dict:
    data = {
        "username": username or f"u{secrets.token_hex(4)}",
        "password": "Violet-harbour-5821",
        "display_name": "用户",
        "partner_id": None,
        "roles": roles,
        "active": True,
        "language": "zh",
        "email": None,
        "phone": None,
    }
    return users.create_user(uow(session), seed.SYSTEM, data)


def by_name(session: Session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


# -- the last active admin --------------------------------------------------------------


def test_the_last_active_admin_cannot_be_deactivated_nor_demoted(session: Session) -> None:
    admin = by_name(session, "admin")
    # Someone holding every HQ permission through a role of its own, not the admin role.
    everything = Role(code="all-hq", name="全部", scope=HQ, permissions=list(ADMIN_PERMISSIONS))
    session.add(everything)
    session.flush()
    other = new_user(session, ["all-hq"])
    caller = admin_caller(other)

    session.commit()

    # A refused call's transaction is rolled back by its unit of work.
    with pytest.raises(Conflict) as deactivated:
        users.update_user(uow(session), caller, admin.id, {"active": False})
    with pytest.raises(Conflict) as demoted:
        users.update_user(uow(session), caller, admin.id, {"roles": ["all-hq"]})

    assert deactivated.value.code == demoted.value.code == "last_admin"
    admin = by_name(session, "admin")
    assert admin.active and [role.code for role in admin.roles] == [ADMIN_ROLE]


def test_an_admin_may_be_deactivated_while_another_stays(session: Session) -> None:
    second = new_user(session, [ADMIN_ROLE])
    admin = by_name(session, "admin")

    users.update_user(uow(session), admin_caller(second), admin.id, {"active": False})
    with pytest.raises(Forbidden) as own:
        users.update_user(uow(session), admin_caller(second), second["id"], {"roles": []})

    assert own.value.code == "own_roles"
    assert by_name(session, "admin").active is False


def test_two_admins_deactivating_each_other_at_once_leave_one(url: str, session: Session) -> None:
    if url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time")
    first = users.dump_user(by_name(session, "admin"), Caller.system_caller("test"))
    second = new_user(session, [ADMIN_ROLE])
    session.commit()
    engine = make_engine(url)
    with engine.connect() as held, Session(engine) as other:
        # The first change's commit releases a savepoint only: its transaction, and the
        # locks it took, stay open until ``finished.commit()``.
        finished = held.begin()
        first_session = Session(bind=held, join_transaction_mode="create_savepoint")
        users.update_user(uow(first_session), admin_caller(first), second["id"], {"active": False})
        other.execute(text("SET lock_timeout = '300ms'"))
        # The second change waits for the first (here: gives up waiting) ...
        with pytest.raises(OperationalError):
            users.update_user(uow(other), admin_caller(second), first["id"], {"active": False})
        other.rollback()
        finished.commit()
        first_session.close()
        # ... and, tried again once the first is done, sees that no other admin is left.
        with pytest.raises(Conflict) as refused:
            users.update_user(uow(other), admin_caller(second), first["id"], {"active": False})
        other.rollback()
    engine.dispose()

    assert refused.value.code == "last_admin"
    session.expire_all()
    assert by_name(session, "admin").active is True


def test_the_system_too_keeps_the_last_admin(session: Session) -> None:
    admin = by_name(session, "admin")

    with pytest.raises(Conflict):
        users.update_user(uow(session), seed.SYSTEM, admin.id, {"active": False})


# -- manage.py admin restore | create ---------------------------------------------------


def manage(url: str, *args: str, password_env: str | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"PARTNERS_DATABASE_URL": url}
    env.pop("PRM_ADMIN_PASSWORD", None)
    if password_env is not None:
        env["PRM_ADMIN_PASSWORD"] = password_env
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def lock_everyone_out(session: Session) -> None:
    """What the fuzzing run did, and worse: the admin role emptied, every admin
    deactivated."""
    session.execute(update(Role).where(Role.code == ADMIN_ROLE).values(permissions=[]))
    session.execute(update(User).values(active=False))
    session.commit()


def signs_in_as_admin(session: Session, username: str, password: str) -> bool:
    session.expire_all()
    user = by_name(session, username)
    profile = signin.caller_profile(session, user.id)
    return (
        PasswordHasher().verify(user.password_hash, password)
        and set(profile["permissions"]) == set(ADMIN_PERMISSIONS)
        and ADMIN_ROLE in profile["roles"]
    )


def test_admin_restore_mends_a_locked_out_installation(
    url: str, session: Session, tmp_path: Path
) -> None:
    second = new_user(session, [ADMIN_ROLE])
    session.commit()
    lock_everyone_out(session)
    password_file = tmp_path / "password"
    password_file.write_text(RESTORED_PASSWORD + "\n")

    done = manage(url, "admin", "restore", "--password-file", str(password_file))

    assert done.returncode == 0, done.stderr
    assert RESTORED_PASSWORD not in done.stdout + done.stderr
    assert signs_in_as_admin(session, "admin", RESTORED_PASSWORD)
    role = session.scalar(select(Role).where(Role.code == ADMIN_ROLE))
    assert sorted(role.permissions) == sorted(ADMIN_PERMISSIONS)
    # Only the named user is brought back.
    assert session.get(User, second["id"]).active is False


def test_admin_restore_of_a_demoted_user_gives_it_the_admin_role_back(
    url: str, session: Session
) -> None:
    user = new_user(session, ["marketing"], username="boss")
    session.execute(update(User).where(User.id == user["id"]).values(active=False))
    session.commit()

    done = manage(url, "admin", "restore", "--username", "Boss", password_env=RESTORED_PASSWORD)

    assert done.returncode == 0, done.stderr
    assert signs_in_as_admin(session, "boss", RESTORED_PASSWORD)
    assert {role.code for role in by_name(session, "boss").roles} == {ADMIN_ROLE, "marketing"}


def test_admin_create_adds_an_hq_admin_and_refuses_a_taken_name(url: str, session: Session) -> None:
    lock_everyone_out(session)

    made = manage(
        url, "admin", "create", "--username", "second-admin", password_env=RESTORED_PASSWORD
    )
    again = manage(
        url, "admin", "create", "--username", "second-admin", password_env=RESTORED_PASSWORD
    )

    assert made.returncode == 0, made.stderr
    assert RESTORED_PASSWORD not in made.stdout + made.stderr
    assert again.returncode != 0
    assert "taken" in again.stderr
    # create leaves the emptied role alone (restore mends it); the user holds it.
    user = by_name(session, "second-admin")
    session.refresh(user)
    assert user.active and [role.code for role in user.roles] == [ADMIN_ROLE]


def test_admin_restore_without_a_password_nor_a_terminal_to_ask_changes_nothing(
    url: str, session: Session
) -> None:
    lock_everyone_out(session)

    done = manage(url, "admin", "restore")

    assert done.returncode != 0
    assert "PRM_ADMIN_PASSWORD" in done.stderr
    session.expire_all()
    assert by_name(session, "admin").active is False
