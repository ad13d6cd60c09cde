"""inbox bodies and delivery payloads sealed

A message's body and what a delivery sends may name a contact or quote a person: they are
stored sealed with ``PRM_SECRETS_KEY`` (services/common/sealing.py). The body was TEXT
already; the payload becomes TEXT (the sealed text of its JSON) on PostgreSQL, where it was
JSON (SQLite stores JSON as text: nothing changes there). The rows written before are left
as they are, readable by the replicas of the release before while a rolling upgrade goes
on: ``manage.py reseal notify`` seals them once every replica runs this release.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:50:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.sealing import is_sealed, unseal

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _on_sqlite():
        return
    op.alter_column(
        "deliveries",
        "payload",
        existing_type=sa.JSON(),
        type_=sa.Text(),
        existing_nullable=False,
        postgresql_using="payload::text",
    )


def downgrade() -> None:
    # The release before reads plain text and JSON only: open what this one sealed.
    connection = op.get_bind()
    for name, column in (("messages", "body"), ("deliveries", "payload")):
        table = sa.table(name, sa.column("id", sa.BigInteger), sa.column(column, sa.Text))
        rows = connection.execute(sa.select(table).where(table.c[column].like("sealed:%"))).all()
        for row in rows:
            stored = getattr(row, column)
            if stored is not None and is_sealed(stored):
                opened = unseal(stored)
                if column == "payload":
                    opened = json.dumps(json.loads(opened), ensure_ascii=False)
                connection.execute(
                    table.update().where(table.c.id == row.id).values({column: opened})
                )
    if _on_sqlite():
        return
    op.alter_column(
        "deliveries",
        "payload",
        existing_type=sa.Text(),
        type_=sa.JSON(),
        existing_nullable=False,
        postgresql_using="payload::json",
    )
