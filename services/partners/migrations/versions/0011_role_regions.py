"""regions of HQ roles (区域经理)

``roles.regions``: the region codes an HQ role is limited to; empty (every role before
this) for the whole country. Plain ADD COLUMN, also on SQLite.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "roles", sa.Column("regions", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )


def downgrade() -> None:
    op.drop_column("roles", "regions")
