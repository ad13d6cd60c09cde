"""A tiny service pair built only from the shared kit, to prove the kit's promises."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Integer, String, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.context import CallerContext
from services.common.db import BigIntPK
from services.common.entrypoints import event_handler, rpc
from services.common.errors import InvalidState, ServiceUnavailable
from services.common.service import ServiceBase
from services.common.unit_of_work import UnitsOfWork

#: How often a handler meets an absent service ("away..." names) before it comes back.
AWAY_FOR = 5
AWAY_TRIES: Counter = Counter()
#: Thing name -> when ``make_once`` loses its COMMIT, once: the database goes away
#: "before" it (nothing is saved) or "after" it (all is, but the service cannot know).
LOSE_COMMIT: dict[str, str] = {}


class KitBase(DeclarativeBase):
    pass


class Thing(KitBase):
    __tablename__ = "kit_things"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))


class Received(KitBase):
    """One row per event a listener applied: duplicates would show as extra rows."""

    __tablename__ = "kit_received"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(100))
    handler: Mapped[str] = mapped_column(String(50))
    seen_by: Mapped[int] = mapped_column(Integer, default=0)


class KitService(ServiceBase):
    name = "kit"

    def _add(self, name: str) -> int:
        thing = Thing(name=name)
        self.uow.session.add(thing)
        self.uow.session.flush()
        self.uow.emit("thing_made", {"id": thing.id, "name": name})
        return thing.id

    def _count(self, name: str) -> int:
        return self.uow.session.scalar(
            select(func.count()).select_from(Thing).where(Thing.name == name)
        )

    @rpc
    def make(self, name: str) -> int:
        """Writes a thing and tells of it through the outbox, in one transaction."""
        with self.uow:
            return self.uow.commit(self._add(name))

    @rpc
    def make_then_fail(self, name: str) -> None:
        """Writes a thing and its event, then fails: neither may be kept."""
        with self.uow:
            self.uow.session.add(Thing(name=name))
            self.uow.emit("thing_made", {"name": name})
            raise RuntimeError("boom")

    @rpc
    def fail_after_losing_connection(self, name: str) -> None:
        """Writes a thing; then its database connection is cut (as when the server crashes)
        and the call fails for another reason, so that its rollback meets a dead link."""
        with self.uow:
            session = self.uow.session
            session.add(Thing(name=name))
            session.flush()
            pid = session.scalar(text("SELECT pg_backend_pid()"))
            with session.get_bind().connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            raise ServiceUnavailable("the partners service is not available")

    @rpc
    def make_but_lose_the_commit(self, name: str) -> None:
        """Writes a thing; then the database goes away just as the transaction commits."""

        def lost(session: object) -> None:
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))

        with self.uow:
            self.uow.session.add(Thing(name=name))
            event.listen(self.uow.session, "before_commit", lost, once=True)
            self.uow.commit()

    @rpc(idempotent=True)
    def make_once(self, name: str) -> int:
        """``make`` honouring an idempotency key; loses its COMMIT once if the test asked
        (``LOSE_COMMIT``)."""
        with self.uow:
            thing_id = self._add(name)
            when = LOSE_COMMIT.pop(name, None)
            if when:

                def lost(session: object) -> None:
                    raise OperationalError("COMMIT", {}, ConnectionError("server closed"))

                event.listen(self.uow.session, f"{when}_commit", lost, once=True)
            return self.uow.commit(thing_id)

    @rpc(idempotent=True)
    def refuse_once(self, name: str) -> int:
        """Fails if a thing named ``name`` exists (as a second approval would), else makes it."""
        with self.uow:
            if self._count(name):
                raise InvalidState(f"{name} exists already")
            return self.uow.commit(self._add(name))

    @rpc(idempotent=True)
    def make_unanswerable(self, name: str) -> object:
        """Makes a thing and answers with what no wire can carry."""
        with self.uow:
            self._add(name)
            return self.uow.commit(object())

    @rpc
    def count_things(self, name: str) -> int:
        """How many things are named ``name``: a call that needs the database."""
        with self.uow:
            return self._count(name)

    @rpc
    def echo(self, value: object) -> object:
        return value

    @rpc
    def slow(self, seconds: float) -> str:
        import eventlet

        eventlet.sleep(seconds)
        return "late"

    @rpc
    def whoami(self) -> dict:
        return {
            "user_id": self.caller.user_id,
            "partner_ids": sorted(self.caller.partner_ids or []),
        }


class KitListener:
    name = "kitlistener"

    caller = CallerContext()
    uow = UnitsOfWork("kit")

    @event_handler("kit", "thing_made")
    def on_thing_made(self, event: dict) -> None:
        name = event["data"]["name"]
        if name.startswith("poison"):
            raise ValueError(f"cannot handle {name}")
        if name.startswith("gone"):
            # Another service that never comes back.
            raise ServiceUnavailable("the partners service is not available")
        if name.startswith("away"):
            # Another service is away for longer than the handler's tries last.
            AWAY_TRIES[name] += 1
            if AWAY_TRIES[name] <= AWAY_FOR:
                raise ServiceUnavailable("the partners service is not available")
        with self.uow:
            self.uow.session.add(Received(event_id=event["id"], name=name, handler="on_thing_made"))
            self.uow.commit()
