"""Saved answers of idempotent calls are forgotten after ``PRM_IDEMPOTENCY_KEEP`` by every
service's timer (here the orders service, on PostgreSQL); younger ones stay."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import make_engine
from services.common.migrations import upgrade
from services.common.models import IdempotentCall
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.orders.service import OrdersService
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def session() -> Iterator[Session]:
    name = f"prm_test_idem_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    upgrade("orders", ROOT / "services" / "orders" / "migrations", url)
    engine = make_engine(url)
    with Session(engine) as session:
        yield session
    engine.dispose()
    infra.drop_database(name)


def _saved(session: Session, key: str, age: timedelta) -> None:
    session.add(
        IdempotentCall(
            caller="user:7",
            method="orders.create_order",
            key=key,
            fingerprint="f" * 64,
            answer="{}",
            created_at=utcnow() - age,
        )
    )


def test_answers_older_than_a_day_are_forgotten_and_younger_ones_kept(session) -> None:
    _saved(session, "two-days", timedelta(days=2))
    _saved(session, "a-day-and-a-minute", timedelta(days=1, minutes=1))
    _saved(session, "an-hour", timedelta(hours=1))
    session.flush()
    worker = worker_factory(
        OrdersService,
        uow=UnitOfWork(lambda: session, "orders"),
        caller=Caller.system_caller("orders"),
    )
    worker.forget_idempotent_calls()
    assert session.scalars(select(IdempotentCall.key)).all() == ["an-hour"]
