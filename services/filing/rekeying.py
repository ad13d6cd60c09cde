"""Stored duplicate-check keys brought to a newer rule of ``services.filing.keys``.

A migration calls ``rekey`` when the rule of a key kind changes, so that customers filed
under the earlier rule block what the new rule matches. Where two active customers now
share one key, the one filed first keeps it and the other is logged (``customer ... shares
its <kind> key with customer ...``) for HQ to settle: it still blocks others by its other
keys. The history of the rule is the list of migrations that call this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)
BATCH = 500

customers = sa.table(
    "customers",
    sa.column("id", sa.BigInteger),
    sa.column("name", sa.String),
    sa.column("phone", sa.String),
)
keys = sa.table(
    "customer_keys",
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
    sa.column("customer_id", sa.BigInteger),
)


def rekey(
    connection: Connection, kind: str, source: sa.ColumnClause, rule: Callable[[str], str | None]
) -> None:
    """Recompute every stored ``kind`` key as ``rule`` gives it from the customer's
    ``source`` column; a key the rule no longer gives is removed."""
    rows = connection.execute(
        sa.select(keys.c.customer_id, keys.c.value, source)
        .join(customers, customers.c.id == keys.c.customer_id)
        .where(keys.c.kind == kind)
        .order_by(keys.c.customer_id)
    ).all()
    holder: dict[str, int] = {}
    stale: list[int] = []
    fresh: list[dict] = []
    for customer_id, value, written in rows:
        key = rule(written)
        if key is not None and key in holder:
            log.warning(
                "customer %s shares its %s key with customer %s", customer_id, kind, holder[key]
            )
            key = None
        if key is None:
            stale.append(customer_id)
            continue
        holder[key] = customer_id
        if key != value:
            stale.append(customer_id)
            fresh.append({"kind": kind, "value": key, "customer_id": customer_id})
    for start in range(0, len(stale), BATCH):
        connection.execute(
            keys.delete().where(
                keys.c.kind == kind, keys.c.customer_id.in_(stale[start : start + BATCH])
            )
        )
    for start in range(0, len(fresh), BATCH):
        connection.execute(keys.insert(), fresh[start : start + BATCH])


def rewrite_column(
    connection: Connection, column: sa.ColumnClause, rule: Callable[[str], str]
) -> None:
    """Store each customer's ``column`` as ``rule`` gives it, where that differs."""
    rows = connection.execute(sa.select(customers.c.id, column).where(column.is_not(None))).all()
    changed = [(id_, rule(value)) for id_, value in rows if rule(value) != value]
    for id_, value in changed:
        connection.execute(
            customers.update().where(customers.c.id == id_).values({column.name: value})
        )
