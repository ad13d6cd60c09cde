"""HQ lead imports as jobs: the use cases (receive a file's rows, read an import, list
them) and the run that imports the rows in the background.

A file's rows arrive in one call or in parts (``receive_rows``) under the import's id, and
wait in ``lead_import_rows``, each batch's rows sealed together. Once the last part is in,
the import is queued and the service's import timer runs it (``run_imports``) in batches:
each batch's rows are validated, their regions resolved and the covering partners asked
once per distinct region (reads only), then written in one transaction: the leads with
their history and their events, the import's progress, and the batch's rows deleted. So
an import that stops (a restart, a lost database) goes on from the rows left, and no row
is imported twice; a runner holds an import by a lease that each batch renews, and
another takes it over once the lease has passed.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Text, delete, or_, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import DATABASE_AWAY, insert_many, insert_unique, is_postgres
from services.common.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ServiceTimeout,
    ServiceUnavailable,
)
from services.common.regions import ADDRESS_RESOLVE_MAX
from services.common.schemas import dumper, ordered, page_of
from services.common.sealing import BATCH_PREFIX, SealedValueUnreadable
from services.common.timeutil import iso, utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import rules
from services.filing.customers import Covering
from services.filing.leads import new_lead
from services.filing.models import Lead, LeadEvent, LeadImport, LeadImportRow, NewLead
from services.filing.routing import Assigner, Terms, emit_routed_batch
from services.filing.schemas import (
    DONE,
    FAILED,
    IMPORT_ERRORS_KEPT,
    QUEUED,
    RECEIVING,
    RUNNING,
    LeadImportJobOut,
    LeadIn,
)

log = logging.getLogger(__name__)

#: ``partners.resolve_addresses``: the regions each of many addresses names, in order.
ResolveMany = Callable[[dict], list[dict]]

IMPORTED = "this lead was imported already"
IMPORTED_AS = IMPORTED + " (lead {})"
SAME_AS_ROW = "the same lead as row {}"

#: Rows imported in one transaction, and kept together (sealed as one) until then. On
#: SQLite every other writer of the service waits for it, so there it is smaller.
BATCH_ROWS = 1_000
SQLITE_BATCH_ROWS = 250
#: Seconds one tick of the import timer works on; the next tick, at once, goes on (a
#: service that stops waits for the tick).
TICK_SECONDS = 10.0
#: How long a runner's hold on an import lasts unless a batch renews it.
LEASE = timedelta(seconds=30)
#: An upload whose last part never came is forgotten, with its rows, after this long.
ABANDONED_AFTER = timedelta(hours=6)

_JOB = LeadImportJobOut()
_LISTED = LeadImportJobOut(exclude=("errors",))
_ROW = LeadIn()


# -- what is answered ------------------------------------------------------------------


def dump_import(job: LeadImport, schema: LeadImportJobOut = _JOB) -> dict:
    return dumper(schema)(
        {
            "id": job.job_id,
            "status": job.status,
            "total": job.total,
            "received": job.received,
            "done": job.done,
            "created": job.created,
            "assigned": job.assigned,
            "unassigned": job.created - job.assigned,
            "errors": job.errors or [],
            "errors_total": job.rejected,
            "failure": job.failure,
            "created_at": job.imported_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }
    )


def get_import(uow: UnitOfWork, caller: Caller, job_id: str) -> dict:
    """An import and how far it has come (HQ ``lead.create``)."""
    caller.require_hq("lead.create")
    with uow:
        return dump_import(_job(uow.session, job_id))


def list_imports(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of the imports, the most recent first, without their row errors."""
    caller.require_hq("lead.create")
    stmt = select(LeadImport).where(LeadImport.job_id.is_not(None)).order_by(LeadImport.id.desc())
    if args.get("status"):
        stmt = stmt.where(LeadImport.status == args["status"])
    # The wire's created_at is the moment of the import.
    sortable = {"created_at": LeadImport.imported_at}
    stmt = ordered(stmt, args.get("sort"), sortable, LeadImport.id)
    with uow:
        return page_of(
            uow.session,
            stmt,
            args["page"],
            args["per_page"],
            lambda job: dump_import(job, _LISTED),
        )


def _job(session: Session, job_id: Any, lock: bool = False) -> LeadImport:
    job = None
    if isinstance(job_id, str):
        stmt = select(LeadImport).where(LeadImport.job_id == job_id)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        job = session.scalar(stmt)
    if job is None:
        raise NotFound(f"lead import {job_id} not found")
    return job


# -- receiving a file's rows ------------------------------------------------------------


def receive_rows(uow: UnitOfWork, caller: Caller, data: dict) -> dict:
    """Keep rows of a file under the import ``data["id"]``, the first call making the
    import; the last call queues it. The same id again answers the import as it is (a part
    sent again is kept once); the same id for other rows, or another user's, is refused
    (422 ``idempotency_key_reused``). Rows imported already under another id (the same
    file again) are refused whole when the last part comes (409), and the import is
    dropped: importing them again would create every lead twice."""
    caller.require_hq("lead.create")
    now = utcnow()
    rows, offset, last = data["rows"], data["offset"], data["last"]
    digest = rules.import_digest(rows)  # the rows as sent, their numbers included
    with uow:
        session = uow.session
        job, made = _receiving_job(session, caller, data["id"], offset, digest, now)
        if job.status != RECEIVING or offset < job.received:
            return dump_import(job)  # made before: this part came already
        if offset > job.received:
            raise InvalidInput(
                f"rows from {job.received} are expected next",
                errors={"offset": [f"expected {job.received}"]},
            )
        size = _batch_rows(session)
        insert_many(
            session,
            LeadImportRow.__table__,
            [
                {
                    "import_id": job.id,
                    "position": offset + start,
                    "data": rows[start : start + size],
                }
                for start in range(0, len(rows), size)
            ],
        )
        job.received += len(rows)
        job.received_digest = rules.chained_digest(job.received_digest, digest)
        job.total = max(data["total"] or 0, job.received)
        if last:
            earlier = _queue(session, job)
            if earlier is not None:
                if not made:
                    # Nothing of this import is kept (the rows of its earlier parts were
                    # committed): the same id may then bring other rows.
                    session.execute(delete(LeadImportRow).where(LeadImportRow.import_id == job.id))
                    session.delete(job)
                    uow.commit()
                raise _imported_already(earlier)
        session.flush()
        return uow.commit(dump_import(job))


def _receiving_job(
    session: Session, caller: Caller, job_id: str, offset: int, digest: str, now: datetime
) -> tuple[LeadImport, bool]:
    """The import ``job_id`` (locked), made by the first part of its rows; and whether
    it was made now."""
    job = session.scalar(select(LeadImport).where(LeadImport.job_id == job_id))
    if job is None:
        if offset != 0:
            raise NotFound(f"lead import {job_id} not found")
        job = LeadImport(
            job_id=job_id,
            status=RECEIVING,
            imported_by=caller.user_id,
            imported_at=now,
            first_digest=digest,
            total=0,
            received=0,
            done=0,
            created=0,
            assigned=0,
            rejected=0,
        )
        try:
            insert_unique(session, Conflict("made meanwhile"), job)
            return job, True
        except Conflict:  # the same id sent twice at once: the first made it
            pass
    job = _job(session, job_id, lock=True)
    if job.imported_by != caller.user_id or (offset == 0 and job.first_digest != digest):
        raise InvalidInput(
            "this import id was used for other rows; choose another",
            "idempotency_key_reused",
            {"Idempotency-Key": ["used for another import"]},
        )
    return job, False


def _queue(session: Session, job: LeadImport) -> LeadImport | None:
    """Queue the import whose rows have all come; the earlier import of the same rows
    instead, if there is one."""
    earlier = session.scalar(select(LeadImport).where(LeadImport.digest == job.received_digest))
    if earlier is not None:
        return earlier
    try:
        with session.begin_nested():
            job.digest = job.received_digest
            job.status = QUEUED
            session.flush()
    except IntegrityError:  # a twin queued the same rows first and committed
        return session.scalar(select(LeadImport).where(LeadImport.digest == job.received_digest))
    return None


def _imported_already(earlier: LeadImport | None) -> Conflict:
    when = f" on {iso(earlier.imported_at)} ({earlier.created} leads created)" if earlier else ""
    return Conflict(
        f"these rows were imported already{when}; importing them again would create every"
        " lead twice"
    )


# -- running imports --------------------------------------------------------------------


class _Lost(Exception):
    """Another runner holds the import now (this one's lease passed)."""


#: What stops a run for a while without failing the import: it goes on later.
_PASSING = (ServiceUnavailable, ServiceTimeout, SealedValueUnreadable, *DATABASE_AWAY)


def run_imports(
    uow: UnitOfWork,
    covering: Covering,
    terms: Terms,
    resolve: ResolveMany,
    budget: float = TICK_SECONDS,
) -> bool:
    """Work for about ``budget`` seconds on the oldest import that is queued or whose
    runner stopped. True when there may be more to do at once."""
    runner = secrets.token_hex(8)
    job_id = _claim(uow, runner)
    if job_id is None:
        return False
    with uow:
        # Covering partners and terms are asked once per tick and distinct region.
        assigner = Assigner(uow.session, covering, terms)
    stop_at = time.monotonic() + budget
    try:
        while _import_batch(uow, job_id, runner, assigner, resolve):
            if time.monotonic() >= stop_at:
                _let_go(uow, job_id, runner)
                return True
        return True
    except _Lost:
        log.warning("lead import %s was taken over by another runner", job_id)
        return True
    except _PASSING as exc:
        log.warning("lead import %s paused: %s", job_id, exc)
        _let_go(uow, job_id, runner)
        return False
    except Exception as exc:
        log.exception("lead import %s failed", job_id)
        _fail(uow, job_id, runner, f"{type(exc).__name__}: {exc}"[:500])
        return True


def _claim(uow: UnitOfWork, runner: str) -> int | None:
    """Hold the oldest import waiting for a runner; its id."""
    now = utcnow()
    waiting = (
        select(LeadImport.id)
        .where(
            LeadImport.status.in_((QUEUED, RUNNING)),
            or_(LeadImport.lease_until.is_(None), LeadImport.lease_until < now),
        )
        .order_by(LeadImport.id)
        .limit(1)
    )
    with uow:
        if uow.session.scalar(waiting) is None:  # most ticks: no lock taken
            return None
    with uow:
        session = uow.session
        job_id = session.scalar(waiting.with_for_update(skip_locked=True))
        if job_id is None:
            return None
        job = session.get(LeadImport, job_id, populate_existing=True)
        job.status, job.runner, job.lease_until = RUNNING, runner, now + LEASE
        job.started_at = job.started_at or now
        return uow.commit(job_id)


def _held(session: Session, job_id: int, runner: str) -> LeadImport:
    job = session.get(LeadImport, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.runner != runner or job.status != RUNNING:
        raise _Lost()
    return job


def _let_go(uow: UnitOfWork, job_id: int, runner: str) -> None:
    """Give the import back to the queue (another tick or replica takes it at once)."""
    try:
        with uow:
            job = _held(uow.session, job_id, runner)
            job.runner, job.lease_until = None, None
            uow.commit()
    except (_Lost, *_PASSING) as exc:
        log.warning("lead import %s not let go (its lease ends it): %s", job_id, exc)


def _fail(uow: UnitOfWork, job_id: int, runner: str, why: str) -> None:
    try:
        with uow:
            job = _held(uow.session, job_id, runner)
            job.status, job.failure, job.finished_at = FAILED, why, utcnow()
            job.runner, job.lease_until = None, None
            job.digest = None  # its rows may be sent again
            uow.session.execute(delete(LeadImportRow).where(LeadImportRow.import_id == job_id))
            uow.commit()
    except Exception as exc:
        log.warning("lead import %s could not be marked failed: %s", job_id, exc)


@dataclass
class _Batch:
    """Rows of an import read and checked, ready to be written."""

    #: The keys of its waiting rows (``LeadImportRow.position``), and how many rows they hold.
    positions: list[int]
    rows: int
    leads: list[NewLead] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


def _import_batch(
    uow: UnitOfWork, job_id: int, runner: str, assigner: Assigner, resolve: ResolveMany
) -> bool:
    """Import the next batch of the import's rows; False when none was left (the import
    is then done). A batch that meets a lead imported meanwhile by another import (the
    same row in two files at once) is read again, and reports it."""
    for attempt in (1, 2, 3):
        try:
            with uow:
                batch = _read_batch(uow, job_id, runner, assigner, resolve)
                if batch is None:
                    _finish(_held(uow.session, job_id, runner), utcnow())
                    uow.commit()
                    return False
            _write_batch(uow, job_id, runner, assigner, batch)
            return True
        except IntegrityError:
            if attempt == 3:
                raise
            log.info("lead import %s: a row was imported meanwhile; reading again", job_id)
    return True


def _read_batch(
    uow: UnitOfWork, job_id: int, runner: str, assigner: Assigner, resolve: ResolveMany
) -> _Batch | None:
    """The next rows, checked and routed as far as reads go (partners asked now): None
    when no row is left. Inside the caller's ``with uow:``; writes nothing."""
    session = uow.session
    job = session.get(LeadImport, job_id, populate_existing=True)
    if job is None or job.runner != runner:
        raise _Lost()
    waiting = select(LeadImportRow.position, LeadImportRow.data).where(
        LeadImportRow.import_id == job_id
    )
    first = session.execute(waiting.order_by(LeadImportRow.position).limit(1)).first()
    if first is None:
        return None
    staged = [first]
    if not isinstance(first.data, list):
        # Rows kept one by one, before rows were kept a batch together: a batch of them.
        staged += session.execute(
            waiting.where(
                LeadImportRow.position > first.position,
                ~type_coerce(LeadImportRow.data, Text).startswith(BATCH_PREFIX),
            )
            .order_by(LeadImportRow.position)
            .limit(_batch_rows(session) - 1)
        ).all()
    rows = [
        (position + i, row)
        for position, data in staged
        for i, row in enumerate(data if isinstance(data, list) else [data])
    ]
    batch = _Batch([position for position, _ in staged], len(rows))
    valid = _valid_rows(rows, batch.errors)
    keys = [rules.row_key(data) for _, data in valid]
    earlier = dict(
        session.execute(select(Lead.import_key, Lead.id).where(Lead.import_key.in_(keys))).all()
    )
    regions = _regions([data for _, data in valid], resolve)
    first_of: dict[str, int] = {}
    numbered: list[tuple[int, NewLead]] = []
    now = utcnow()
    for (row_number, data), region, key in zip(valid, regions, keys, strict=True):
        if key in first_of:
            batch.errors.append(_error(row_number, SAME_AS_ROW.format(first_of[key])))
            continue
        first_of[key] = row_number
        if key in earlier:
            batch.errors.append(_error(row_number, IMPORTED_AS.format(earlier[key])))
            continue
        numbered.append((row_number, new_lead(data, region, job.imported_by, now, key, NewLead)))
    assigner.know_owners([lead for _, lead in numbered])
    assigner.ask_covering(lead for _, lead in numbered)
    for row_number, lead in numbered:
        try:
            assigner.consult(lead)
        except InvalidInput as exc:
            batch.errors.append(
                {"row": row_number, "errors": exc.errors or {"_schema": [exc.message]}}
            )
            continue
        batch.leads.append(lead)
    return batch


def _batch_rows(session: Session) -> int:
    return BATCH_ROWS if is_postgres(session) else SQLITE_BATCH_ROWS


def _valid_rows(staged: Iterable[tuple[int, Any]], errors: list[dict]) -> list[tuple[int, dict]]:
    """The rows that are leads, loaded, with their numbers (the header is row 1); each
    other row's problems go to ``errors``."""
    valid = []
    for position, row in staged:
        number = position + 2
        if not isinstance(row, dict):
            errors.append({"row": number, "errors": {"_schema": ["not a row"]}})
            continue
        row_number = int(row.pop("_row", number))
        try:
            valid.append((row_number, _ROW.load(row)))
        except ValidationError as exc:
            errors.append({"row": row_number, "errors": exc.normalized_messages()})
    return valid


def _regions(rows: list[dict], resolve: ResolveMany) -> list[str | None]:
    """Each row's region: its code, or the most specific region named in its address
    (the addresses of the batch resolved in one call)."""
    addresses = sorted(
        {row["address"][:ADDRESS_RESOLVE_MAX] for row in rows if _needs_resolving(row)}
    )
    found = {}
    if addresses:
        found = dict(zip(addresses, resolve({"addresses": addresses}), strict=True))
    regions: list[str | None] = []
    for row in rows:
        if row.get("region_code"):
            regions.append(row["region_code"])
        elif _needs_resolving(row):
            named = found[row["address"][:ADDRESS_RESOLVE_MAX]]
            regions.append(named.get("district") or named.get("city") or named.get("province"))
        else:
            regions.append(None)
    return regions


def _needs_resolving(row: dict) -> bool:
    return not row.get("region_code") and bool(row.get("address"))


def _error(row_number: int, message: str) -> dict:
    return {"row": row_number, "errors": {"_schema": [message]}}


def _write_batch(
    uow: UnitOfWork, job_id: int, runner: str, assigner: Assigner, batch: _Batch
) -> None:
    """Write the batch in one transaction: its leads routed (one ``leads_assigned`` per
    partner given some, one ``leads_unassigned`` naming those left to HQ), the import's
    progress, and its rows deleted."""
    now = utcnow()
    with uow:
        session = uow.session
        job = _held(session, job_id, runner)
        gone = session.execute(
            delete(LeadImportRow).where(
                LeadImportRow.import_id == job_id, LeadImportRow.position.in_(batch.positions)
            )
        )
        if gone.rowcount != len(batch.positions):
            raise _Lost()
        # Customers protected since the reads are read again; their owners' terms were
        # asked only if known then (``Assigner.route``).
        assigner.know_owners(batch.leads)
        routed = [assigner.route(lead, now, job.imported_by) for lead in batch.leads]
        _insert_leads(session, batch.leads)
        emit_routed_batch(uow, batch.leads, routed, job.job_id)
        job.done += batch.rows
        job.created += len(batch.leads)
        job.assigned += sum(routed)
        job.rejected += len(batch.errors)
        job.errors = rules.kept_errors(job.errors or [], batch.errors, IMPORT_ERRORS_KEPT)
        job.lease_until = now + LEASE
        uow.commit()


_LEADS = Lead.__table__
_LEAD_COLUMNS = [column.key for column in _LEADS.columns if column.key != "id"]
_HISTORY = LeadEvent.__table__
_HISTORY_COLUMNS = [c.key for c in _HISTORY.columns if c.key not in ("id", "lead_id")]


def _insert_leads(session: Session, leads: list[NewLead]) -> None:
    """Insert ``leads`` (built and routed, never added to the session) and their history
    in bulk (``insert_many``); each lead gets its id."""
    ids = insert_many(
        session,
        _LEADS,
        [{key: getattr(lead, key) for key in _LEAD_COLUMNS} for lead in leads],
        ids=True,
    )
    history = []
    for lead, lead_id in zip(leads, ids, strict=True):
        lead.id = lead_id
        history.extend(
            {"lead_id": lead_id, **{key: getattr(event, key) for key in _HISTORY_COLUMNS}}
            for event in lead.history
        )
    insert_many(session, _HISTORY, history)


def _finish(job: LeadImport, now: datetime) -> None:
    """Every row is imported or refused. An import that created nothing keeps no digest:
    the same rows may be sent again (once mended, say)."""
    job.status, job.finished_at = DONE, now
    job.runner, job.lease_until = None, None
    job.total = max(job.total, job.done)
    if job.created == 0:
        job.digest = None


# -- housekeeping -----------------------------------------------------------------------


def forget_abandoned(uow: UnitOfWork, now: datetime) -> int:
    """Uploads whose last part never came are dropped with their rows, after
    ``ABANDONED_AFTER``. Inside the caller's ``with uow:``."""
    session = uow.session
    ids = session.scalars(
        select(LeadImport.id).where(
            LeadImport.status == RECEIVING, LeadImport.imported_at < now - ABANDONED_AFTER
        )
    ).all()
    if ids:
        session.execute(delete(LeadImportRow).where(LeadImportRow.import_id.in_(ids)))
        session.execute(delete(LeadImport).where(LeadImport.id.in_(ids)))
    return len(ids)
