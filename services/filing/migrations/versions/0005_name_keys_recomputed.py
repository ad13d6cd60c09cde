"""name keys recomputed

Customers' name keys follow the name rule of ``services.filing.keys.normalise_name`` as of
this revision: invisible code points and combining marks removed, look-alikes of other
scripts folded (UTS #39). A name filed before with an invisible character in it now
gets the key of the name it imitates. Where two active customers now share one name key,
the one filed first keeps it and the other is logged for HQ to settle
(``services.filing.rekeying``).

Nothing to undo: keys under this rule also block the names the earlier rule matched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from services.filing.keys import customer_keys
from services.filing.rekeying import customers, rekey

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def name_key(name: str) -> str | None:
    return dict(customer_keys(name, None, None)).get("name")


def upgrade() -> None:
    rekey(op.get_bind(), "name", customers.c.name, name_key)


def downgrade() -> None:
    pass
