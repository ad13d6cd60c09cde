"""channel secrets sealed

A channel's target (a robot's URL carries its access token), its signing secret and its
robot secret are stored sealed with ``PRM_SECRETS_KEY`` (services/common/sealing.py),
which makes them longer: the columns become TEXT. The rows written before are left as they
are, readable by the replicas of the release before while a rolling upgrade goes on:
``manage.py reseal notify`` seals them once every replica runs this release.

SQLite does not hold a VARCHAR to its length, so nothing changes there (altering a column
would rebuild the table, and the rebuild's DROP would cascade to the deliveries).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.sealing import is_sealed, unseal

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: column -> (its type before, whether it may be NULL)
SEALED = {
    "target": (sa.String(length=2000), False),
    "secret": (sa.String(length=100), True),
    "robot_secret": (sa.String(length=200), True),
}


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _on_sqlite():
        return
    for column, (before, nullable) in SEALED.items():
        op.alter_column(
            "channels", column, existing_type=before, type_=sa.Text(), existing_nullable=nullable
        )


def downgrade() -> None:
    # The release before reads plain text only: open what this one sealed.
    channels = sa.table(
        "channels", sa.column("id", sa.BigInteger), *(sa.column(c, sa.Text) for c in SEALED)
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(channels)).all():
        values = {
            c: unseal(getattr(row, c))
            for c in SEALED
            if getattr(row, c) is not None and is_sealed(getattr(row, c))
        }
        if values:
            connection.execute(channels.update().where(channels.c.id == row.id).values(**values))
    if _on_sqlite():
        return
    for column, (before, nullable) in SEALED.items():
        op.alter_column(
            "channels", column, existing_type=sa.Text(), type_=before, existing_nullable=nullable
        )
