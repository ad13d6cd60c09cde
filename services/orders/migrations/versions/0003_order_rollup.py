"""order rollup

The reports' rollup of the orders (``services.orders.rollup``), filled from the orders
there are: from here on the use cases keep it in the transaction of each change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.orders.rollup import rebuild

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_rollup",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("province", sa.String(length=6), nullable=False),
        sa.Column("city", sa.String(length=6), nullable=False),
        sa.Column("product_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("order_count", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.PrimaryKeyConstraint(
            "level",
            "partner_id",
            "day",
            "province",
            "city",
            "product_id",
            "source",
            "status",
        ),
    )
    op.create_index("ix_order_rollup_level_day", "order_rollup", ["level", "day"], unique=False)
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_order_rollup_level_day", table_name="order_rollup")
    op.drop_table("order_rollup")
