"""lead imports as jobs

A lead import becomes a job with an id, a status and its progress; its rows wait in
``lead_import_rows`` (sealed) until imported in batches. The imports recorded before are
finished jobs without an id. The digest is set once every row of a job has arrived, and
cleared when the job created nothing, so it may be NULL now.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = services.common.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("lead_imports") as batch:
        batch.alter_column("digest", existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column("job_id", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("status", sa.String(length=10), nullable=False, server_default="done")
        )
        for name in ("total", "received", "done"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("errors", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("first_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("received_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("runner", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("lease_until", _TIME, nullable=True))
        batch.add_column(sa.Column("started_at", _TIME, nullable=True))
        batch.add_column(sa.Column("finished_at", _TIME, nullable=True))
        batch.add_column(sa.Column("failure", sa.Text(), nullable=True))
        batch.create_unique_constraint("uq_lead_imports_job_id", ["job_id"])
        batch.create_index("ix_lead_imports_status", ["status"])
    op.execute("UPDATE lead_imports SET total = created + rejected, done = created + rejected")
    op.create_table(
        "lead_import_rows",
        sa.Column(
            "import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["lead_imports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("import_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("lead_import_rows")
    op.execute("DELETE FROM lead_imports WHERE digest IS NULL")
    with op.batch_alter_table("lead_imports") as batch:
        batch.drop_index("ix_lead_imports_status")
        batch.drop_constraint("uq_lead_imports_job_id", type_="unique")
        for name in (
            "failure", "finished_at", "started_at", "lease_until", "runner", "received_digest",
            "first_digest", "errors", "done", "received", "total", "status", "job_id",
        ):  # fmt: skip
            batch.drop_column(name)
        batch.alter_column("digest", existing_type=sa.String(length=64), nullable=False)
