"""token versions, and failed sign-ins by account

``users.token_version`` goes into every access token; raising it ends the tokens issued
before. ``ix_login_failures_user`` serves the per-account guard of sign-in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, also on SQLite: a batch copy of the table there would lose the
    # expression index on lower(username), which SQLite's reflection cannot see.
    op.add_column(
        "users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_index("ix_login_failures_user", "login_failures", ["username", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failures_user", table_name="login_failures")
    op.drop_column("users", "token_version")
