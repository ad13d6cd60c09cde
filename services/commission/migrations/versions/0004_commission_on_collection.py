"""commission on collection

A rate rule gains its ``basis`` (``approval``, every rule there is, or ``collection``);
``order_commissions`` keeps the rate fixed at approval of an order on basis collection and
what it has accrued; an entry names the payment it accrues on (``payment_id``), so that an
order's one entry of each kind becomes one per order (approval, cancellation) and one per
payment: two partial unique indexes instead of the constraint on (order_id, kind).

Downgrade removes the entries of payments (and counts the rollup afresh without them):
the older code knows one entry of each kind per order only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db
from services.commission.rollup import rebuild

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = services.common.db.UTCDateTime(timezone=True)
_MONEY = sa.Numeric(precision=14, scale=2)
_OF_ORDER, _OF_PAYMENT = sa.text("payment_id IS NULL"), sa.text("payment_id IS NOT NULL")


def upgrade() -> None:
    op.add_column(
        "rate_rules",
        sa.Column("basis", sa.String(length=12), server_default="approval", nullable=False),
    )
    # The unique constraint is part of the table on SQLite: a batch copies the table without
    # it (nothing refers to the entries, so the copy may replace them).
    with op.batch_alter_table("commission_entries") as batch:
        batch.drop_constraint("uq_commission_entries_order_kind", type_="unique")
        batch.add_column(sa.Column("payment_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "uq_commission_entries_order_kind",
        "commission_entries",
        ["order_id", "kind"],
        unique=True,
        sqlite_where=_OF_ORDER,
        postgresql_where=_OF_ORDER,
    )
    op.create_index(
        "uq_commission_entries_payment_kind",
        "commission_entries",
        ["payment_id", "kind"],
        unique=True,
        sqlite_where=_OF_PAYMENT,
        postgresql_where=_OF_PAYMENT,
    )
    op.create_table(
        "order_commissions",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("partner_type", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("contract_no", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("basis", sa.String(length=12), nullable=False),
        sa.Column("contract_amount", _MONEY, nullable=False),
        sa.Column("rate", sa.Numeric(precision=7, scale=6), nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("accrued", _MONEY, nullable=False),
        sa.Column("payments_applied", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rate_rule_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", _TIME, nullable=False),
        sa.Column("cancelled_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index(
        op.f("ix_order_commissions_partner_id"), "order_commissions", ["partner_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_order_commissions_partner_id"), table_name="order_commissions")
    op.drop_table("order_commissions")
    op.execute("DELETE FROM commission_entries WHERE payment_id IS NOT NULL")
    rebuild(op.get_bind())
    op.drop_index("uq_commission_entries_payment_kind", table_name="commission_entries")
    op.drop_index("uq_commission_entries_order_kind", table_name="commission_entries")
    with op.batch_alter_table("commission_entries") as batch:
        batch.drop_column("payment_id")
        batch.create_unique_constraint("uq_commission_entries_order_kind", ["order_id", "kind"])
    op.drop_column("rate_rules", "basis")
