"""A page's total (``services.common.schemas.page_of`` and ``page_of_rows``): right on every
page, counted with a second query only where the page does not tell it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Integer, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common.schemas import page_of, page_of_rows


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def _fill(session: Session, how_many: int) -> None:
    session.add_all(_Row(id=n) for n in range(1, how_many + 1))
    session.flush()


def _counted(session: Session) -> list[str]:
    statements: list[str] = []
    event.listen(
        session.get_bind(),
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: statements.append(statement),
    )
    return statements


@pytest.mark.parametrize(
    ("rows", "page", "items", "counts"),
    [
        (45, 1, 20, True),  # more after it: counted
        (45, 2, 20, True),
        (45, 3, 5, False),  # the last page: the total is what came before and its own
        (45, 4, 0, True),  # beyond the end: counted
        (40, 2, 20, True),  # a full last page: no row after it is read, so it counts
        (20, 1, 20, True),
        (19, 1, 19, False),
        (0, 1, 0, False),  # nothing at all
        (0, 2, 0, True),
    ],
)
def test_every_page_has_the_right_total(
    session: Session, rows: int, page: int, items: int, counts: bool
) -> None:
    _fill(session, rows)
    statements = _counted(session)
    stmt = select(_Row).order_by(_Row.id)
    answer = page_of(session, stmt, page, 20, lambda row: row.id)
    first = (page - 1) * 20 + 1
    assert answer == {
        "items": list(range(first, first + items)),
        "total": rows,
        "page": page,
        "per_page": 20,
    }
    assert any("count(" in statement for statement in statements) is counts

    by_rows = page_of_rows(
        session, select(_Row.id).order_by(_Row.id), page, 20, lambda page: [r.id for r in page]
    )
    assert by_rows == answer
