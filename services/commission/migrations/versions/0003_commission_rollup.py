"""commission rollup

The commission report's rollup of the entries (``services.commission.rollup``), filled
from the entries there are: from here on each new entry adds itself in its transaction.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.commission.rollup import rebuild

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commission_rollup",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), nullable=False),
        sa.Column("contract_amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("period", "partner_id", "source"),
    )
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("commission_rollup")
