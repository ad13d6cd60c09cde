"""keys of radicals and other scripts' digits

The name and phone keys follow ``services.filing.keys`` as of this revision:

- a CJK radical or stroke in a name (U+2EC4 ⻄ drawn as 西) folds to the character it is
  drawn as, or stays itself, where the earlier rule dropped it as a separator;
- a phone's decimal digits of any script (Arabic-Indic ١٣٨...) are stored, and keyed, as
  ASCII digits: customers' phones are rewritten so.

Name keys and phone keys are recomputed as 0005 recomputed the name keys
(``services.filing.rekeying``): of two active customers that now share a key, the one filed
first keeps it and the other is logged.

Nothing to undo: keys under this rule also block what the earlier rule matched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

from services.filing.keys import ascii_digits, customer_keys, normalise_mobile
from services.filing.rekeying import customers, rekey, rewrite_column

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def name_key(name: str) -> str | None:
    return dict(customer_keys(name, None, None)).get("name")


def upgrade() -> None:
    connection = op.get_bind()
    rekey(connection, "name", customers.c.name, name_key)
    rewrite_column(connection, customers.c.phone, ascii_digits)
    rekey(connection, "phone", customers.c.phone, normalise_mobile)


def downgrade() -> None:
    pass
