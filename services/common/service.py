"""What every service has: its caller, its database, its outbox, a health check, and the
forgetting of old idempotent answers."""

from __future__ import annotations

from sqlalchemy import text

from services.common.config import get_settings
from services.common.context import CallerContext
from services.common.db import Database, try_advisory_lock
from services.common.entrypoints import rpc, timer
from services.common.idempotency import forget_old
from services.common.outbox import EventOutbox
from services.common.timeutil import utcnow


class ServiceBase:
    """Base class of the Nameko services; subclasses set ``name``."""

    name = "base"

    caller = CallerContext()
    db = Database()
    emit = EventOutbox()

    @rpc
    def ping(self) -> dict:
        """Answers when the service is up and its database answers (used by /readyz)."""
        self.db.execute(text("SELECT 1"))
        return {"service": self.name, "ok": True}

    @timer(interval=600)
    def forget_idempotent_calls(self) -> None:
        """Forget the answers of idempotent calls older than ``PRM_IDEMPOTENCY_KEEP``."""
        if try_advisory_lock(self.db, f"{self.name}.idempotent_calls"):
            forget_old(self.db, utcnow(), get_settings().idempotency_keep)
