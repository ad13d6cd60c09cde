"""The commission report's rollup (``CommissionRollup``): entries counted and summed per
period, partner and customer source, the report's every dimension and filter, so that the
report reads a row per partner and month whatever the number of entries.

Entries are only ever added (they never change, a reversal is an entry of its own), so
each new entry adds itself in its own transaction (``add``) with one UPSERT adding to what
is there (``entry_count = commission_rollup.entry_count + 1``: atomic on PostgreSQL whoever
else writes the key at once). ``rebuild`` computes the rollup afresh from the entries (the
migration, a repair).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session

from services.commission.models import CommissionEntry, CommissionRollup
from services.common.db import upsert_insert

R = CommissionRollup.__table__
KEY = ("period", "partner_id", "source")
FIGURES = ("entry_count", "contract_amount", "amount")


def add(session: Session, entry: CommissionEntry) -> None:
    """Count ``entry``, just written, in the session's transaction."""
    row = {
        "period": entry.period,
        "partner_id": entry.partner_id,
        "source": entry.source,
        "entry_count": 1,
        "contract_amount": entry.contract_amount,
        "amount": entry.amount,
    }
    insert = upsert_insert(session)(R).values(row)
    added = {name: R.c[name] + insert.excluded[name] for name in FIGURES}
    session.execute(insert.on_conflict_do_update(index_elements=list(KEY), set_=added))


def rebuild(connection: Connection) -> None:
    """The rollup computed afresh from the entries, replacing what is there, in the
    connection's transaction."""
    connection.execute(delete(R))
    keys = [CommissionEntry.period, CommissionEntry.partner_id, CommissionEntry.source]
    stmt = select(
        *keys,
        func.count(),
        func.sum(CommissionEntry.contract_amount),
        func.sum(CommissionEntry.amount),
    ).group_by(*keys)
    connection.execute(R.insert().from_select([*KEY, *FIGURES], stmt))
