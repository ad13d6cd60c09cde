"""extensions (延期申请)

``extensions`` holds the owners' requests for more days on a protected customer, each with
its approval flow (the ``extension`` kind of ``approval_flows``, the default one step when
HQ has set none), the protection period it counts in (``period_started_at``: the
customer's ``protection_started_at`` when it was asked) and the end of the protection
before and after it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = services.common.db.UTCDateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "extensions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("flow", sa.JSON(), nullable=False),
        sa.Column("period_started_at", _TIME, nullable=True),
        sa.Column("protected_until_before", _TIME, nullable=True),
        sa.Column("protected_until_after", _TIME, nullable=True),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_extensions_customer", "extensions", ["customer_id", "id"])
    op.create_index("ix_extensions_status", "extensions", ["status", "id"])
    op.create_index("ix_extensions_partner_id", "extensions", ["partner_id"])


def downgrade() -> None:
    op.drop_index("ix_extensions_partner_id", table_name="extensions")
    op.drop_index("ix_extensions_status", table_name="extensions")
    op.drop_index("ix_extensions_customer", table_name="extensions")
    op.drop_table("extensions")
