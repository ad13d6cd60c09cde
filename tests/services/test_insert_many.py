"""``insert_many``: rows inserted in bulk, on PostgreSQL composed by the driver and on SQLite
by SQLAlchemy, read back as an ORM insert would have stored them, with their ids in order,
and refused whole by a constraint as an INSERT is."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common.db import BigIntPK, UTCDateTime, insert_many, make_engine
from services.common.sealing import Sealed
from services.common.unit_of_work import UnitOfWork
from tests.support import infra


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "bulk_rows"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    secret: Mapped[str | None] = mapped_column(Sealed)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    count: Mapped[int | None] = mapped_column(Integer)


ROWS = Row.__table__
# What a file's cells may hold: tabs, line ends, backslashes, quotes, percent signs, Han,
# an emoji, the COPY format's own null marker, and nothing at all.
NOTES = ["a\tb", "line\nend\r", "back\\slash \\N", 'it\'s "quoted" 100%', "杭州西湖 😀", "", None]
EAST_8 = timezone(timedelta(hours=8))


@pytest.fixture(params=["postgresql", "sqlite"])
def session(request, tmp_path: Path) -> Iterator[Session]:
    name = None
    if request.param == "postgresql":
        name = f"prm_test_insert_many_{secrets.token_hex(4)}"
        url = infra.create_database(name)
    else:
        url = f"sqlite:///{tmp_path / 'bulk.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()
        if name is not None:
            infra.drop_database(name)


def rows_of(count: int, prefix: str = "r") -> list[dict]:
    return [
        {
            "code": f"{prefix}{i:04d}",
            "secret": None if i % 5 == 4 else f"13{i:09d}",
            "note": NOTES[i % len(NOTES)],
            "at": None if i % 3 == 2 else datetime(2026, 12, 3, 8, i % 60, tzinfo=EAST_8),
            "count": None if i % 4 == 3 else i * 1_000_003,
        }
        for i in range(count)
    ]


def test_rows_are_stored_as_given_and_their_ids_come_in_order(session: Session) -> None:
    rows = rows_of(300)
    ids = insert_many(session, ROWS, rows, ids=True)
    session.commit()
    assert len(ids) == len(set(ids)) == 300
    stored = {row.code: row for row in session.scalars(select(Row))}
    assert [stored[row["code"]].id for row in rows] == ids
    for row in rows:
        got = stored[row["code"]]
        assert (got.secret, got.note, got.count) == (row["secret"], row["note"], row["count"])
        assert got.at == (row["at"].astimezone(UTC) if row["at"] else None)


def test_a_sealed_column_is_stored_sealed(session: Session) -> None:
    insert_many(session, ROWS, rows_of(1))
    session.commit()
    raw = session.connection().exec_driver_sql("SELECT secret FROM bulk_rows").scalar_one()
    assert raw.startswith("sealed:") and "130000" not in raw


def test_later_rows_get_later_ids_and_none_is_taken_twice(session: Session) -> None:
    first = insert_many(session, ROWS, rows_of(50, "a"), ids=True)
    one = Row(code="orm")
    session.add(one)
    session.flush()
    second = insert_many(session, ROWS, rows_of(50, "b"), ids=True)
    session.commit()
    assert max(first) < one.id < min(second)


def test_a_row_a_constraint_refuses_refuses_the_whole_insert(session: Session) -> None:
    insert_many(session, ROWS, rows_of(3))
    session.commit()
    again = rows_of(5, "new") + rows_of(1)  # the last one's code is taken
    with pytest.raises(IntegrityError):
        insert_many(session, ROWS, again, ids=True)
    session.rollback()
    assert sorted(session.scalars(select(Row.code))) == ["r0000", "r0001", "r0002"]


def test_nothing_to_insert_is_nothing_done(session: Session) -> None:
    assert insert_many(session, ROWS, [], ids=True) == []
    assert session.scalars(select(Row)).all() == []


def test_rows_that_give_different_columns_are_refused(session: Session) -> None:
    rows = rows_of(2)
    del rows[1]["note"]
    with pytest.raises(ValueError, match="different columns"):
        insert_many(session, ROWS, rows)
    assert session.scalars(select(Row)).all() == []


def test_a_use_case_that_inserts_in_bulk_without_committing_is_reported(session) -> None:
    uow = UnitOfWork(lambda: session, "test")
    with pytest.raises(RuntimeError, match="without committing"), uow:
        insert_many(uow.session, ROWS, rows_of(2))
    with uow:  # what was written is gone, and the next block starts clean
        assert uow.session.scalars(select(Row)).all() == []
