"""The unit of work: one transaction of one worker, committed where the use case says so.

A use case reads and writes inside ``with uow:`` and ends with ``uow.commit(answer)``::

    def approve_order(uow: UnitOfWork, caller: Caller, order_id: int, comment: str | None) -> dict:
        with uow:
            order = visible_order(uow.session, caller, order_id, lock=True)
            ...  # the rules decide, the models change
            uow.emit(events.ORDER_APPROVED, approved_event(order))
            return uow.commit(dump_order(uow.session, order))

- ``uow.session`` is the worker's SQLAlchemy session; it exists only inside the block.
- ``uow.emit(kind, data)`` adds the event to the outbox in this same transaction.
- ``uow.commit(answer)`` saves, in the same transaction, what must never be separated from
  the effect (the entry point decides what: the answer to the call's ``Idempotency-Key``,
  the id of the event a handler applied), commits, wakes the outbox relay and returns
  ``answer``. A database lost during the COMMIT is ``ServiceTimeout``: nobody knows whether
  it was saved.
- Leaving the block without ``commit`` rolls back. Leaving it normally after writing
  without committing is a programming error and raises: a change is never dropped silently.

Peers are asked *before* the block that locks rows (or between two blocks): no lock, nor
SQLite's write lock, is held across a call to another service.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from nameko.extensions import DependencyProvider
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import TextClause

from services.common.config import get_settings
from services.common.context import REQUEST_ID_KEY
from services.common.db import DATABASE_AWAY, WROTE_UNSEEN, dependency_named, make_engine
from services.common.errors import ServiceTimeout
from services.common.outbox import add_event

log = logging.getLogger(__name__)

_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


class UnitOfWork:
    """The transaction of one worker (see the module's docstring)."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        source: str,
        worker_ctx: Any = None,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._source = source
        self._worker_ctx = worker_ctx
        self._after_commit = after_commit
        self._session: Session | None = None
        self._open = False
        self._committed = False
        self._wrote = False
        self._emitted = False
        self._saved_with_effect = False

    # -- the block ------------------------------------------------------------------------

    def __enter__(self) -> UnitOfWork:
        if self._open:
            raise RuntimeError("a unit of work is not entered twice at once")
        self._open = True
        self._committed = False
        self._wrote = False
        if self._session is None:
            self._session = self._session_factory()
        # The listeners below tell the unit of work in the session's ``info`` what it wrote.
        self._session.info[_UNIT] = self
        self._session.info.pop(WROTE_UNSEEN, None)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._open = False
        if self._committed:
            return
        unseen = self._session is not None and self._session.info.pop(WROTE_UNSEEN, False)
        wrote = self._wrote or unseen or self._pending_changes()
        _roll_back(self._session)
        if exc_type is None and wrote:
            raise RuntimeError("a use case wrote without committing; its changes are dropped")

    @property
    def session(self) -> Session:
        """The worker's session; only inside ``with uow:``."""
        if not self._open or self._session is None:
            raise RuntimeError("the session is used inside `with uow:` only")
        return self._session

    # -- what a use case does -------------------------------------------------------------

    def emit(self, event_type: str, data: dict[str, Any]) -> str:
        """Add the event to the outbox in this transaction; its id."""
        meta = {}
        request_id = self._worker_ctx.data.get(REQUEST_ID_KEY) if self._worker_ctx else None
        if request_id:
            meta[REQUEST_ID_KEY] = request_id
        self._emitted = True
        return add_event(self.session, self._source, event_type, data, **meta)

    def commit(self, answer: Any = None) -> Any:
        """Save the entry point's records with the effect, commit, and return ``answer``.

        ``answer`` is what an idempotent call answers to a retry with its key: a use case
        that commits and then refuses (bookkeeping kept through a refusal, as a failed
        sign-in) must not be an idempotent call, or its retry would be told "done"."""
        session = self.session
        save = getattr(getattr(self._worker_ctx, "entrypoint", None), "save_with_effect", None)
        saving = save is not None and not self._saved_with_effect
        if saving:
            save(self._worker_ctx, session, answer)
        try:
            session.commit()
        except DATABASE_AWAY as exc:
            # The COMMIT went out, or not: the change may be saved. "Try again" (503) would
            # invite a second copy of whatever is not idempotent; say that nobody knows.
            log.warning("database lost at commit: %s", exc)
            _roll_back(session)
            raise ServiceTimeout(
                f"the {self._source} service lost its database while saving: the change may"
                " or may not have been saved; look before trying again (a request sent with"
                " an Idempotency-Key may simply be sent again)"
            ) from exc
        self._committed = True
        self._saved_with_effect = self._saved_with_effect or saving
        if self._emitted and self._after_commit is not None:
            self._emitted = False
            self._after_commit()
        return answer

    # -- bookkeeping ------------------------------------------------------------------------

    @property
    def saved_with_effect(self) -> bool:
        """Whether a commit saved the entry point's records (``save_with_effect``)."""
        return self._saved_with_effect

    def _pending_changes(self) -> bool:
        session = self._session
        if session is None:
            return False
        return bool(
            session.new
            or session.deleted
            or any(session.is_modified(instance) for instance in session.dirty)
        )

    def close(self) -> None:
        if self._session is not None:
            if self._session.info.get(_UNIT) is self:
                del self._session.info[_UNIT]
            try:
                self._session.close()
            except SQLAlchemyError as exc:  # a lost connection; raising would kill the container
                log.warning("closing a session failed, its connection is lost: %s", exc)
            self._session = None


#: The key of a session's ``info`` naming the unit of work it serves.
_UNIT = "prm.unit_of_work"


def _flushed(session: Session, _context: Any) -> None:
    unit = session.info.get(_UNIT)
    if unit is not None:
        unit._wrote = True


def _executed(state: Any) -> None:
    """A bulk ``insert``/``update``/``delete`` (or such a statement as text) writes
    without a flush."""
    unit = state.session.info.get(_UNIT)
    if unit is None:
        return
    statement = state.statement
    if (
        state.is_insert
        or state.is_update
        or state.is_delete
        or (isinstance(statement, TextClause) and _WRITES.match(statement.text))
    ):
        unit._wrote = True


# Listened to once for every session, not per session: listening costs more than a
# short read (a tenth of a call of the partners service).
event.listen(Session, "after_flush", _flushed)
event.listen(Session, "do_orm_execute", _executed)


def _roll_back(session: Session | None) -> None:
    """Roll back. When the connection is lost (the database went away), its transaction
    went with it: there is nothing left to undo, and the worker's own error is what counts."""
    if session is None:
        return
    try:
        session.rollback()
    except SQLAlchemyError as exc:
        log.warning("rollback failed, the connection is lost with its transaction: %s", exc)


class UnitsOfWork(DependencyProvider):
    """The service's database: one engine per container, and for each worker its own
    ``UnitOfWork`` (declared on every service as ``uow``)."""

    def __init__(self, service: str | None = None) -> None:
        self.service = service
        self.engine: Engine | None = None
        self.works: dict[Any, UnitOfWork] = {}

    def setup(self) -> None:
        service = self.service or self.container.service_name
        url = self.container.config.get("DATABASE_URL") or get_settings().database_url(service)
        self.engine = make_engine(url)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        # Looked up once: the container's dependencies are fixed when it is made.
        try:
            self.wake: Callable[[], None] | None = dependency_named(self.container, "outbox").wake
        except LookupError:
            self.wake = None

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def kill(self) -> None:
        self.stop()

    def session(self) -> Session:
        """A session of its own, outside any worker (the outbox relay, the entry points'
        own bookkeeping)."""
        return self.session_factory()

    def get_dependency(self, worker_ctx: Any) -> UnitOfWork:
        work = self.works[worker_ctx] = UnitOfWork(
            self.session_factory, self.container.service_name, worker_ctx, after_commit=self.wake
        )
        return work

    def work_of(self, worker_ctx: Any) -> UnitOfWork | None:
        return self.works.get(worker_ctx)

    def worker_teardown(self, worker_ctx: Any) -> None:
        work = self.works.pop(worker_ctx, None)
        if work is not None:
            work.close()
