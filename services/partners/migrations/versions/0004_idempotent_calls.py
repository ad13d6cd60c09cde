"""idempotent calls

The answers of calls made with an Idempotency-Key (see services.common.idempotency).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 05:30:00.000000
"""

from collections.abc import Sequence

from services.common.migrations import create_idempotent_calls_table, drop_idempotent_calls_table

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotent_calls_table()


def downgrade() -> None:
    drop_idempotent_calls_table()
