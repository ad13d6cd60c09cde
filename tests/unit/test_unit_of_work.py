"""The unit of work commits where the use case says so, and never drops a change silently."""

from __future__ import annotations

import pytest
from sqlalchemy import String, delete, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common.db import make_engine
from services.common.models import CommonBase, OutboxEvent
from services.common.unit_of_work import UnitOfWork


class _Base(DeclarativeBase):
    pass


class _Note(_Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def session(tmp_path) -> Session:
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.db'}")
    _Base.metadata.create_all(engine)
    CommonBase.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


def _notes(session: Session) -> list[str]:
    return list(session.scalars(select(_Note.text).order_by(_Note.id)))


def test_a_committed_change_and_its_event_are_kept_together_and_the_answer_returned(
    session,
) -> None:
    uow = UnitOfWork(lambda: session, "kit")
    with uow:
        uow.session.add(_Note(text="kept"))
        uow.emit("note_written", {"text": "kept"})
        assert uow.commit({"ok": True}) == {"ok": True}
    assert _notes(session) == ["kept"]
    assert [row.event_type for row in session.scalars(select(OutboxEvent))] == ["note_written"]


def test_an_error_inside_the_block_rolls_back_the_change_and_its_event(session) -> None:
    uow = UnitOfWork(lambda: session, "kit")
    with pytest.raises(ValueError), uow:
        uow.session.add(_Note(text="dropped"))
        uow.emit("note_written", {"text": "dropped"})
        uow.session.flush()
        raise ValueError("refused")
    assert _notes(session) == []
    assert session.scalars(select(OutboxEvent)).all() == []


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.add(_Note(text="pending")),
        lambda s: (s.add(_Note(text="flushed")), s.flush()),
        lambda s: s.execute(delete(_Note)),
        lambda s: s.execute(text("UPDATE notes SET text = 'x'")),
    ],
    ids=["pending", "flushed", "bulk delete", "text update"],
)
def test_leaving_the_block_after_a_write_without_committing_is_an_error(session, write) -> None:
    uow = UnitOfWork(lambda: session, "kit")
    with pytest.raises(RuntimeError, match="without committing"), uow:
        write(uow.session)


def test_a_read_only_block_needs_no_commit_and_the_session_lives_only_inside_it(session) -> None:
    uow = UnitOfWork(lambda: session, "kit")
    with uow:
        assert _notes(uow.session) == []
    with pytest.raises(RuntimeError, match="inside `with uow:`"):
        uow.session  # noqa: B018


def test_the_block_can_be_entered_again_after_it_ends(session) -> None:
    uow = UnitOfWork(lambda: session, "kit")
    for word in ("one", "two"):
        with uow:
            uow.session.add(_Note(text=word))
            uow.commit()
    assert _notes(session) == ["one", "two"]
