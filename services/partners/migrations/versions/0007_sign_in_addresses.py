"""addresses accounts signed in from, and old failed sign-ins found by age

``sign_in_addresses`` holds where each account last signed in with its password: the
sign-in guards spare those addresses. ``ix_login_failures_at`` serves the timer that
forgets old failures.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_addresses",
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("last_success_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", "address"),
    )
    op.create_index(
        "ix_sign_in_addresses_last", "sign_in_addresses", ["last_success_at"], unique=False
    )
    op.create_index("ix_login_failures_at", "login_failures", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failures_at", table_name="login_failures")
    op.drop_index("ix_sign_in_addresses_last", table_name="sign_in_addresses")
    op.drop_table("sign_in_addresses")
