"""personal data sealed, phones and addresses found by blind index

A contact's name, phone and street address, on customers and leads, are stored sealed with
``PRM_SECRETS_KEY`` (services/common/sealing.py), which makes them longer: the columns
become TEXT (SQLite does not hold a VARCHAR to its length, so nothing changes there). The
rows written before are left in plain text, readable by the replicas of the release before
while a rolling upgrade goes on: ``manage.py reseal filing`` seals them once every replica
runs this release.

What must still be found exactly is stored beside as its blind index (services/common/
pii.py): the phone of customers and leads (``phone_index``), a customer's address for the
near-duplicate check (``address_index``), and the phone key of the duplicate check
(``customer_keys`` of kind ``phone``), which held the number in clear. All are computed
here from the values as stored.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.sealing import is_sealed, unseal
from services.filing.keys import normalise_mobile
from services.filing.rekeying import customers, reindex, rekey

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> column -> (its type before, whether it may be NULL)
SEALED = {
    "customers": {
        "contact_name": (sa.String(length=100), False),
        "phone": (sa.String(length=20), False),
        "address": (sa.String(length=300), True),
    },
    "leads": {
        "contact_name": (sa.String(length=100), False),
        "phone": (sa.String(length=20), False),
        "address": (sa.String(length=300), True),
    },
}


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, sa.column("id", sa.BigInteger), *(sa.column(c, sa.Text) for c in columns))


def upgrade() -> None:
    op.add_column("customers", sa.Column("phone_index", sa.String(length=64), nullable=True))
    op.add_column("customers", sa.Column("address_index", sa.String(length=64), nullable=True))
    op.add_column("leads", sa.Column("phone_index", sa.String(length=64), nullable=True))
    op.create_index("ix_customers_phone_index", "customers", ["phone_index"], unique=False)
    op.create_index("ix_leads_phone_index", "leads", ["phone_index"], unique=False)
    if not _on_sqlite():
        for table, columns in SEALED.items():
            for column, (before, nullable) in columns.items():
                op.alter_column(
                    table, column, existing_type=before, type_=sa.Text(), existing_nullable=nullable
                )
    reindex(op.get_bind())


def downgrade() -> None:
    # The release before reads plain text only and keys phones in clear.
    connection = op.get_bind()
    for name, columns in SEALED.items():
        table = _table(name, *columns)
        for row in connection.execute(sa.select(table)).all():
            values = {
                c: unseal(getattr(row, c))
                for c in columns
                if getattr(row, c) is not None and is_sealed(getattr(row, c))
            }
            if values:
                connection.execute(table.update().where(table.c.id == row.id).values(**values))
    rekey(connection, "phone", customers.c.phone, normalise_mobile)
    op.drop_index("ix_leads_phone_index", table_name="leads")
    op.drop_index("ix_customers_phone_index", table_name="customers")
    op.drop_column("leads", "phone_index")
    op.drop_column("customers", "address_index")
    op.drop_column("customers", "phone_index")
    if _on_sqlite():
        return
    for table, columns in SEALED.items():
        for column, (before, nullable) in columns.items():
            op.alter_column(
                table, column, existing_type=sa.Text(), type_=before, existing_nullable=nullable
            )
