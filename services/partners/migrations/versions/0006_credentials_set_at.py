"""when an account's credentials were last set by someone else

``users.credentials_set_at``: an account whose password or roles someone other than its
user set after an approval flow started decides none of that flow's steps. Accounts that
exist now are dated by their creation: a change made before this revision happened before
any flow that records its start time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain, nullable ADD COLUMN, also on SQLite: a batch copy of the table there would
    # lose the expression index on lower(username) (see 0005).
    op.add_column(
        "users",
        sa.Column(
            "credentials_set_at", services.common.db.UTCDateTime(timezone=True), nullable=True
        ),
    )
    op.execute("UPDATE users SET credentials_set_at = created_at")


def downgrade() -> None:
    op.drop_column("users", "credentials_set_at")
