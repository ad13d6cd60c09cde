"""Stored duplicate-check keys brought to a newer rule of ``services.filing.keys``.

A migration calls ``rekey`` when the rule of a key kind changes, so that customers filed
under the earlier rule block what the new rule matches. Where two active customers now
share one key, the one filed first keeps it and the other is logged (``customer ... shares
its <kind> key with customer ...``) for HQ to settle: it still blocks others by its other
keys. The history of the rule is the list of migrations that call this.

``reindex`` computes the blind indexes of phones and addresses (services/common/pii.py)
from the values as stored, sealed or not: migration 0008 calls it, and so does ``manage.py
reseal`` after a key rotation (indexes and phone keys are then under the first key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.common import pii
from services.common.sealing import unseal
from services.filing.keys import address_form, normalise_mobile, phone_form

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


def _opened(value: str | None) -> str | None:
    return None if value is None else unseal(value)


def phone_key(stored: str | None) -> str | None:
    """The stored phone key of the duplicate check: the blind index of the mobile number."""
    phone = _opened(stored)
    return pii.blind_index(pii.PHONE, normalise_mobile(phone) if phone else None)


def _indexes(name: str, *indexed: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("id", sa.BigInteger),
        *(sa.column(c, sa.Text) for c in indexed),
        *(sa.column(f"{c}_index", sa.String) for c in indexed),
    )


def reindex(connection: Connection) -> int:
    """Every blind index under the ring's first key: ``phone_index`` of customers and leads,
    ``address_index`` of customers, and the phone keys of the duplicate check. Rows are
    locked while read (PostgreSQL), so a change made meanwhile is not undone. Returns the
    number of rows whose indexes were written; the caller commits."""
    written = 0
    for name, indexed in (("customers", ("phone", "address")), ("leads", ("phone",))):
        table = _indexes(name, *indexed)
        rows = connection.execute(
            sa.select(
                table.c.id,
                *(table.c[c] for c in indexed),
                *(table.c[f"{c}_index"] for c in indexed),
            )
            .order_by(table.c.id)
            .with_for_update()
        ).all()
        for row in rows:
            phone = _opened(row.phone)
            values = {
                "phone_index": pii.blind_index(pii.PHONE, phone_form(phone) if phone else None)
            }
            if "address" in indexed:
                address = _opened(row.address)
                values["address_index"] = pii.blind_index(
                    pii.ADDRESS, address_form(address) if address else None
                )
            if any(getattr(row, column) != value for column, value in values.items()):
                connection.execute(table.update().where(table.c.id == row.id).values(values))
                written += 1
    rekey(connection, "phone", customers.c.phone, phone_key)
    return written
