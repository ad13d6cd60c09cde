"""the public pool, follow-ups and idle release

A customer keeps when its owner's protection began, its latest follow-up, whether idle
release was announced and when it last went to the pool. ``pool_moves`` records each
release (the releaser's reclaim cooldown counts from it) and each claim from the pool;
``follow_ups`` the owners' visits and calls. A protected customer's protection began when
its last filing was approved, or when it was made (a claimed lead); a released one's
release is when it was last changed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = services.common.db.UTCDateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        for name in (
            "protection_started_at",
            "last_follow_up_at",
            "idle_reminder_sent_at",
            "released_at",
        ):
            batch.add_column(sa.Column(name, _TIME, nullable=True))
    op.execute(
        "UPDATE customers SET protection_started_at = COALESCE("
        "(SELECT MAX(filings.decided_at) FROM filings WHERE filings.customer_id = customers.id"
        " AND filings.status = 'approved'), customers.created_at) WHERE status = 'protected'"
    )
    op.execute("UPDATE customers SET released_at = updated_at WHERE status = 'released'")
    op.create_table(
        "pool_moves",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pool_moves_customer_partner", "pool_moves", ["customer_id", "partner_id"])
    op.execute(
        "INSERT INTO pool_moves (customer_id, partner_id, action, kind, reason, at) "
        "SELECT id, owner_partner_id, 'released', 'expired', 'protection ended', updated_at "
        "FROM customers WHERE status = 'released'"
    )
    op.create_table(
        "follow_ups",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("next_at", _TIME, nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_follow_ups_customer", "follow_ups", ["customer_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_follow_ups_customer", table_name="follow_ups")
    op.drop_table("follow_ups")
    op.drop_index("ix_pool_moves_customer_partner", table_name="pool_moves")
    op.drop_table("pool_moves")
    # Plain columns, dropped in place (SQLite 3.35 and later can): a batch would copy and
    # drop the customers table, which the filings' foreign keys refuse on SQLite.
    for name in (
        "released_at",
        "idle_reminder_sent_at",
        "last_follow_up_at",
        "protection_started_at",
    ):
        op.drop_column("customers", name)
