"""lead import keys

An imported lead keeps its row's fingerprint, unique: a corrected file uploaded again
creates only the rows not imported before. (A column and an index of their own, so that
SQLite needs no table rebuild.)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("import_key", sa.String(length=64), nullable=True))
    op.create_index("uq_leads_import_key", "leads", ["import_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_leads_import_key", table_name="leads")
    # ALTER TABLE ... DROP COLUMN, also on SQLite (3.35 and later): a batch rebuild would
    # have to drop "leads", which the lead events refer to.
    op.drop_column("leads", "import_key")
