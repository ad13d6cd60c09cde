"""What every service has: its caller, its unit of work, its outbox, a health check, and the
forgetting of old idempotent answers."""

from __future__ import annotations

from sqlalchemy import text

from services.common.config import get_settings
from services.common.context import CallerContext
from services.common.db import try_advisory_lock
from services.common.entrypoints import rpc, timer
from services.common.idempotency import forget_old
from services.common.outbox import EventOutbox
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitsOfWork


class ServiceBase:
    """Base class of the Nameko services; subclasses set ``name``."""

    name = "base"

    #: Who is calling: checked by the entry point before the worker runs.
    caller = CallerContext()
    #: The worker's unit of work on the service's own database:
    #: ``with self.uow: ...; self.uow.commit(answer)`` (``unit_of_work``).
    uow = UnitsOfWork()
    #: Publishes the events the units of work put in the outbox, after their commit.
    outbox = EventOutbox()

    @rpc
    def ping(self) -> dict:
        """Answers when the service is up and its database answers (used by /readyz)."""
        with self.uow:
            self.uow.session.execute(text("SELECT 1"))
        return {"service": self.name, "ok": True}

    @timer(interval=600)
    def forget_idempotent_calls(self) -> None:
        """Forget the answers of idempotent calls older than ``PRM_IDEMPOTENCY_KEEP``."""
        with self.uow:
            if try_advisory_lock(self.uow.session, f"{self.name}.idempotent_calls"):
                forget_old(self.uow.session, utcnow(), get_settings().idempotency_keep)
                self.uow.commit()
