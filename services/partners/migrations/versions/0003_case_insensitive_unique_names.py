"""case-insensitive unique codes and user names

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 20:18:07.148679
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ux_partners_code_lower", "partners", [sa.text("lower(code)")], unique=True)
    op.create_index("ux_users_username_lower", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("ux_users_username_lower", table_name="users")
    op.drop_index("ux_partners_code_lower", table_name="partners")
