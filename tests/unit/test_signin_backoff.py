"""The sign-in back-off rule (services/partners/access.py), at chosen moments, on SQLite.

Failures slow down one account from the address they came from, with a wait that doubles
with each consecutive failure up to a cap; the same account from another address, and
other accounts from the same address, are not slowed by them. Two guards with high limits
stop one account tried from many addresses and one address trying many accounts.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from services.common.config import get_settings
from services.common.errors import TooManyRequests, Unauthenticated
from services.partners import access
from services.partners.models import Base, User

PASSWORD = "lantern-quay-9081"
ATTACKER = "203.0.113.66"
ELSEWHERE = "198.51.100.7"
START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for name in ("wangmin", "lina"):
            session.add(
                User(username=name, display_name=name, password_hash=access.hash_password(PASSWORD))
            )
        session.flush()
        yield session
    engine.dispose()


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The defaults of the settings, whatever the test run sets."""

    def apply(**overrides: int) -> None:
        defaults = {
            "login_failures_per_user": 5,
            "login_backoff": 30.0,
            "login_backoff_max": 900.0,
            "login_failures_per_account": 100,
            "login_failures_per_address": 100,
        }
        settings = dataclasses.replace(get_settings(), **(defaults | overrides))
        monkeypatch.setattr(access, "get_settings", lambda: settings)

    apply()
    return apply


def attempt(session: Session, password: str, address: str, at: datetime, user: str = "wangmin"):  # type: ignore[no-untyped-def]
    """``"ok"``, ``"wrong"`` or the seconds to wait, as the sign-in answered."""
    try:
        access.authenticate(session, user, password, address, now=at)
    except Unauthenticated:
        return "wrong"
    except TooManyRequests as refused:
        return int(refused.errors["retry_after"][0])
    return "ok"


def test_the_wait_doubles_after_the_free_failures_and_stops_at_the_cap(limits) -> None:  # type: ignore[no-untyped-def]
    settings = access.get_settings()
    waits = [access.backoff(n, settings).total_seconds() for n in range(12)]

    assert waits == [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert access.backoff(10_000, settings).total_seconds() == 900


def test_retry_after_grows_with_each_consecutive_failure_up_to_the_cap(
    session: Session, limits
) -> None:  # type: ignore[no-untyped-def]
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
) -> None:  # type: ignore[no-untyped-def]
    for n in range(8):
        attempt(session, "guess", ATTACKER, START + timedelta(seconds=n))
    at = START + timedelta(seconds=10)
    assert isinstance(attempt(session, PASSWORD, ATTACKER, at), int)

    assert attempt(session, PASSWORD, ELSEWHERE, at) == "ok"
    # and the attacker's wait goes on
    assert isinstance(attempt(session, PASSWORD, ATTACKER, at), int)


def test_failures_from_one_address_do_not_slow_other_accounts_there(
    session: Session, limits
) -> None:  # type: ignore[no-untyped-def]
    for n in range(8):
        attempt(session, "guess", ATTACKER, START + timedelta(seconds=n))

    at = START + timedelta(seconds=10)
    assert attempt(session, PASSWORD, ATTACKER, at, user="lina") == "ok"


def test_a_wait_once_over_lets_the_right_password_in_and_forgets_the_failures(
    session: Session, limits
) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        attempt(session, "guess", ATTACKER, START + timedelta(seconds=n))
    later = START + timedelta(seconds=4 + 30)

    assert attempt(session, PASSWORD, ATTACKER, later) == "ok"
    assert attempt(session, "typo", ATTACKER, later) == "wrong"
    assert attempt(session, PASSWORD, ATTACKER, later) == "ok"


def test_an_account_tried_from_many_addresses_waits_everywhere(session: Session, limits) -> None:  # type: ignore[no-untyped-def]
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
) -> None:  # type: ignore[no-untyped-def]
    limits(login_failures_per_address=20)
    for n in range(20):
        name = f"nobody{n}"
        assert attempt(session, "guess", ATTACKER, START, user=name) == "wrong"

    assert isinstance(attempt(session, PASSWORD, ATTACKER, START, user="lina"), int)
    assert attempt(session, PASSWORD, ELSEWHERE, START, user="lina") == "ok"
