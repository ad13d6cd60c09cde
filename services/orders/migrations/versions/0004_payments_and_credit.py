"""payments received, payment plans and credit limits

``orders.paid_amount`` is what an order has been paid (receipts less refunds; 0 for the
orders there are, which had no payments). ``payment_installments`` holds the payment plans
HQ sets (an approved order without one follows the default plan, which is not stored),
``payments`` the receipts and refunds, ``partner_credits`` the partners' credit limits
(none for any partner: no limit).

A plain ADD COLUMN with a default, also on SQLite; dropped in place on the way down
(SQLite 3.35 and later can): a batch would copy and drop ``orders``, which the lines'
foreign keys refuse on SQLite.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = services.common.db.UTCDateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MONEY = sa.Numeric(precision=14, scale=2)


def upgrade() -> None:
    op.add_column("orders", sa.Column("paid_amount", _MONEY, server_default="0", nullable=False))
    op.create_table(
        "payment_installments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("set_by", sa.BigInteger(), nullable=True),
        sa.Column("set_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "position", name="uq_payment_installments_order_position"),
    )
    op.create_table(
        "payments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payments_order", "payments", ["order_id", "id"])
    op.create_index("ix_payments_partner_received", "payments", ["partner_id", "received_on"])
    op.create_index("ix_payments_received_on", "payments", ["received_on"])
    op.create_table(
        "partner_credits",
        sa.Column("partner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("credit_limit", _MONEY, nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("partner_id"),
    )


def downgrade() -> None:
    op.drop_table("partner_credits")
    op.drop_index("ix_payments_received_on", table_name="payments")
    op.drop_index("ix_payments_partner_received", table_name="payments")
    op.drop_index("ix_payments_order", table_name="payments")
    op.drop_table("payments")
    op.drop_table("payment_installments")
    op.drop_column("orders", "paid_amount")
