"""name keys recomputed

Customers' name keys follow the name rule of ``services.filing.keys.normalise_name`` as of
this revision: invisible code points and combining marks removed, look-alikes of other
scripts folded (UTS #39). A name filed before with an invisible character in it now
gets the key of the name it imitates. Where two active customers now share one name key,
the one filed first keeps it and the other is logged (``customer ... shares its name key
with customer ...``) for HQ to settle: it still blocks others by its USCC and phone.

Nothing to undo: keys under this rule also block the names the earlier rule matched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:30:00.000000
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.filing.keys import customer_keys

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)
BATCH = 500

customers = sa.table("customers", sa.column("id", sa.BigInteger), sa.column("name", sa.String))
keys = sa.table(
    "customer_keys",
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
    sa.column("customer_id", sa.BigInteger),
)


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(keys.c.customer_id, keys.c.value, customers.c.name)
        .join(customers, customers.c.id == keys.c.customer_id)
        .where(keys.c.kind == "name")
        .order_by(keys.c.customer_id)
    ).all()
    holder: dict[str, int] = {}
    stale: list[int] = []
    fresh: list[dict] = []
    for customer_id, value, name in rows:
        key = dict(customer_keys(name, None, None)).get("name")
        if key is not None and key in holder:
            log.warning(
                "customer %s shares its name key with customer %s", customer_id, holder[key]
            )
            key = None
        if key is None:
            stale.append(customer_id)
            continue
        holder[key] = customer_id
        if key != value:
            stale.append(customer_id)
            fresh.append({"kind": "name", "value": key, "customer_id": customer_id})
    for start in range(0, len(stale), BATCH):
        connection.execute(
            keys.delete().where(
                keys.c.kind == "name", keys.c.customer_id.in_(stale[start : start + BATCH])
            )
        )
    for start in range(0, len(fresh), BATCH):
        connection.execute(keys.insert(), fresh[start : start + BATCH])


def downgrade() -> None:
    pass
