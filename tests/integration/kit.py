"""A tiny service pair built only from the shared kit, to prove the kit's promises."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.context import CallerContext
from services.common.db import BigIntPK, Database
from services.common.entrypoints import event_handler, rpc
from services.common.service import ServiceBase


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

    @rpc
    def make(self, name: str) -> int:
        """Writes a thing and tells of it through the outbox, in one transaction."""
        thing = Thing(name=name)
        self.db.add(thing)
        self.db.flush()
        self.emit("thing_made", {"id": thing.id, "name": name})
        return thing.id

    @rpc
    def make_then_fail(self, name: str) -> None:
        """Writes a thing and its event, then fails: neither may be kept."""
        self.db.add(Thing(name=name))
        self.emit("thing_made", {"name": name})
        raise RuntimeError("boom")

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
    db = Database("kit")

    @event_handler("kit", "thing_made")
    def on_thing_made(self, event: dict) -> None:
        name = event["data"]["name"]
        if name.startswith("poison"):
            raise ValueError(f"cannot handle {name}")
        self.db.add(Received(event_id=event["id"], name=name, handler="on_thing_made"))
