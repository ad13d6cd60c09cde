"""filing near matches

The customers of other partners close to a filing when it was filed (shown to HQ
approvers). A column of its own, nullable: filings from before have none recorded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("filings", sa.Column("near_matches", sa.JSON(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, also on SQLite (3.35 and later), without a rebuild.
    op.drop_column("filings", "near_matches")
