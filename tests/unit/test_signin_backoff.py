"""The sign-in back-off rule (services/partners/signin.py, rules.backoff), at chosen
moments, on SQLite.

Failures slow down one account from the address they came from, with a wait that doubles
with each consecutive failure up to a cap; the same account from another address, and
other accounts from the same address, are not slowed by them. Two guards with high limits
stop one account tried from many addresses and one address trying many accounts; they spare
an address the account signed in from (for PRM_LOGIN_KNOWN_ADDRESS_KEEP), where the back-off
alone applies. A password set by HQ forgets the account's failures; a timer forgets old
failures and addresses.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from services.common.config import get_settings
from services.common.errors import TooManyRequests, Unauthenticated
from services.common.models import CommonBase
from services.common.unit_of_work import UnitOfWork
from services.partners import rules, signin, users
from services.partners.models import Base, LoginFailure, SignInAddress, User

PASSWORD = "lantern-quay-9081"
ATTACKER = "203.0.113.66"
ELSEWHERE = "198.51.100.7"
START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    CommonBase.metadata.create_all(engine)  # the outbox a user's change writes its event to
    with Session(engine) as session:
        for name in ("wangmin", "lina"):
            session.add(
                User(username=name, display_name=name, password_hash=signin.hash_password(PASSWORD))
            )
        # Committed: a refused sign-in's unit of work rolls back what it did not commit.
        session.commit()
        yield session
    engine.dispose()


def uow(session: Session) -> UnitOfWork:
    """A unit of work on the test's session, as the service's worker has on its own."""
    return UnitOfWork(lambda: session, "partners")


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch):
    """The defaults of the settings, whatever the test run sets."""

    def apply(**overrides: int) -> None:
        defaults = {
            "login_failures_per_user": 5,
            "login_backoff": 30.0,
            "login_backoff_max": 900.0,
            "login_failures_per_account": 100,
            "login_failures_per_address": 100,
            "login_known_address_keep": 90 * 86400.0,
        }
        settings = dataclasses.replace(get_settings(), **(defaults | overrides))
        monkeypatch.setattr(signin, "get_settings", lambda: settings)

    apply()
    return apply


def attempt(session: Session, password: str, address: str, at: datetime, user: str = "wangmin"):
    """``"ok"``, ``"wrong"`` or the seconds to wait, as the sign-in answered."""
    try:
        signin.authenticate(uow(session), user, password, address, now=at)
    except Unauthenticated:
        return "wrong"
    except TooManyRequests as refused:
        return int(refused.errors["retry_after"][0])
    return "ok"


def test_the_wait_doubles_after_the_free_failures_and_stops_at_the_cap(limits) -> None:
    settings = signin.get_settings()
    waits = [rules.backoff(n, settings).total_seconds() for n in range(12)]

    assert waits == [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert rules.backoff(10_000, settings).total_seconds() == 900


def test_retry_after_grows_with_each_consecutive_failure_up_to_the_cap(
    session: Session, limits
) -> None:
    now = START
    answers = []
    for _ in range(24):
        answer = attempt(session, "guess", ATTACKER, now)
        answers.append(answer)
        # The attacker comes back the moment it may.
        now += timedelta(seconds=answer if isinstance(answer, int) else 0)

    waits = [answer for answer in answers if isinstance(answer, int)]
    assert answers[:5] == ["wrong"] * 5
    assert waits[:7] == [30, 60, 120, 240, 480, 900, 900]
    # Between two waits exactly one guess goes through.
    assert all(isinstance(a, int) != isinstance(b, int) for a, b in itertools.pairwise(answers[5:]))


def test_the_real_user_signs_in_from_another_address_while_the_attacker_waits(
    session: Session, limits
) -> None:
    for n in range(8):
        attempt(session, "guess", ATTACKER, START + timedelta(seconds=n))
    at = START + timedelta(seconds=10)
    assert isinstance(attempt(session, PASSWORD, ATTACKER, at), int)

    assert attempt(session, PASSWORD, ELSEWHERE, at) == "ok"
    # and the attacker's wait goes on
    assert isinstance(attempt(session, PASSWORD, ATTACKER, at), int)


def test_failures_from_one_address_do_not_slow_other_accounts_there(
    session: Session, limits
) -> None:
    for n in range(8):
        attempt(session, "guess", ATTACKER, START + timedelta(seconds=n))

    at = START + timedelta(seconds=10)
    assert attempt(session, PASSWORD, ATTACKER, at, user="lina") == "ok"


def test_a_wait_once_over_lets_the_right_password_in_and_forgets_the_failures(
    session: Session, limits
) -> None:
    for n in range(5):
        attempt(session, "guess", ATTACKER, START + timedelta(seconds=n))
    later = START + timedelta(seconds=4 + 30)

    assert attempt(session, PASSWORD, ATTACKER, later) == "ok"
    assert attempt(session, "typo", ATTACKER, later) == "wrong"
    assert attempt(session, PASSWORD, ATTACKER, later) == "ok"


def test_an_account_tried_from_many_addresses_waits_everywhere(session: Session, limits) -> None:
    limits(login_failures_per_account=20)
    for n in range(20):
        assert attempt(session, "guess", f"192.0.2.{n}", START + timedelta(seconds=n)) == "wrong"

    at = START + timedelta(seconds=30)
    wait = attempt(session, PASSWORD, ELSEWHERE, at)
    # until the first of those failures leaves the 15-minute window
    assert wait == 15 * 60 - 30
    assert attempt(session, PASSWORD, ELSEWHERE, at + timedelta(seconds=wait)) == "ok"


def test_an_address_trying_many_accounts_is_stopped_on_every_account(
    session: Session, limits
) -> None:
    limits(login_failures_per_address=20)
    for n in range(20):
        name = f"nobody{n}"
        assert attempt(session, "guess", ATTACKER, START, user=name) == "wrong"

    assert isinstance(attempt(session, PASSWORD, ATTACKER, START, user="lina"), int)
    assert attempt(session, PASSWORD, ELSEWHERE, START, user="lina") == "ok"


# -- addresses an account signed in from ------------------------------------------------

HOME = "192.0.2.200"
NAT = "100.64.0.1"  # carrier-grade NAT: many users behind one address


def _sign_in_at_home(session: Session, at: datetime, user: str = "wangmin") -> None:
    assert attempt(session, PASSWORD, HOME, at, user=user) == "ok"


def test_an_account_tried_from_many_addresses_still_signs_in_from_an_address_it_knows(
    session: Session, limits
) -> None:
    limits(login_failures_per_account=20)
    _sign_in_at_home(session, START - timedelta(days=30))
    for n in range(20):
        assert attempt(session, "guess", f"192.0.2.{n}", START + timedelta(seconds=n)) == "wrong"

    at = START + timedelta(seconds=30)
    assert attempt(session, PASSWORD, HOME, at) == "ok"
    # A first sign-in from a new address waits while the account is under attack.
    assert attempt(session, PASSWORD, ELSEWHERE, at) == 15 * 60 - 30


def test_an_address_trying_many_accounts_does_not_stop_the_accounts_that_signed_in_there(
    session: Session, limits
) -> None:
    limits(login_failures_per_address=20)
    assert attempt(session, PASSWORD, NAT, START - timedelta(days=1), user="lina") == "ok"
    for n in range(20):
        assert attempt(session, "guess", NAT, START, user=f"nobody{n}") == "wrong"

    assert attempt(session, PASSWORD, NAT, START, user="lina") == "ok"
    # wangmin never signed in from behind that address: it waits there, not elsewhere.
    assert isinstance(attempt(session, PASSWORD, NAT, START, user="wangmin"), int)
    assert attempt(session, PASSWORD, ELSEWHERE, START, user="wangmin") == "ok"


def test_an_address_the_account_knows_still_gets_the_back_off(session: Session, limits) -> None:
    _sign_in_at_home(session, START - timedelta(days=1))
    answers = [attempt(session, "guess", HOME, START + timedelta(seconds=n)) for n in range(6)]

    assert answers == ["wrong"] * 5 + [30 - 1]


def test_an_address_is_known_for_a_while_only(session: Session, limits) -> None:
    limits(login_failures_per_account=20)
    keep = signin.get_settings().login_known_address_keep
    _sign_in_at_home(session, START - timedelta(seconds=keep + 1))
    for n in range(20):
        attempt(session, "guess", f"192.0.2.{n}", START + timedelta(seconds=n))

    assert isinstance(attempt(session, PASSWORD, HOME, START + timedelta(seconds=30)), int)


def test_a_failure_from_a_known_address_does_not_make_it_unknown(session: Session, limits) -> None:
    limits(login_failures_per_account=20)
    _sign_in_at_home(session, START - timedelta(days=2))
    assert attempt(session, "typo", HOME, START - timedelta(days=1)) == "wrong"
    for n in range(20):
        attempt(session, "guess", f"192.0.2.{n}", START + timedelta(seconds=n))

    assert attempt(session, PASSWORD, HOME, START + timedelta(seconds=30)) == "ok"


NEW_PASSWORD = "harbour-kite-5527"


def _set_password(session: Session, user: str, password: str) -> None:
    from services.common.context import Caller

    target = session.scalar(select(User).where(User.username == user))
    hq = Caller.system_caller("partners-test")
    users.update_user(uow(session), hq, target.id, {"password": password})


def test_a_new_password_set_by_hq_ends_the_accounts_wait(session: Session, limits) -> None:
    limits(login_failures_per_account=20)
    # The user forgot its password and tried at home; somebody else tried from elsewhere.
    for n in range(8):
        attempt(session, "forgotten", HOME, START + timedelta(seconds=n))
    for n in range(20):
        attempt(session, "guess", f"192.0.2.{n}", START + timedelta(seconds=n))
    at = START + timedelta(seconds=30)
    assert isinstance(attempt(session, "forgotten", HOME, at), int)

    _set_password(session, "wangmin", NEW_PASSWORD)

    assert attempt(session, NEW_PASSWORD, HOME, at) == "ok"
    assert attempt(session, NEW_PASSWORD, ELSEWHERE, at) == "ok"


def test_old_failures_and_old_known_addresses_are_forgotten(session: Session, limits) -> None:
    keep = timedelta(seconds=signin.get_settings().login_known_address_keep)
    _sign_in_at_home(session, START - keep - timedelta(days=1), user="lina")
    _sign_in_at_home(session, START - timedelta(days=1))
    for n in range(3):
        attempt(session, "guess", NAT, START - timedelta(days=2), user=f"gone{n}")
    attempt(session, "guess", NAT, START - timedelta(hours=1), user="recent")

    signin.forget_old_sign_ins(uow(session), START)

    failures = session.execute(select(LoginFailure.username)).scalars().all()
    assert failures == ["recent"]
    known = session.execute(select(SignInAddress.username, SignInAddress.address)).all()
    assert known == [("wangmin", HOME)]
