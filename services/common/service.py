"""What every service has: its caller, its database, its outbox, and a health check."""

from __future__ import annotations

from sqlalchemy import text

from services.common.context import CallerContext
from services.common.db import Database
from services.common.entrypoints import rpc
from services.common.outbox import EventOutbox


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
