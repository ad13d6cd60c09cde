"""personal data sealed

Partners' contact name, phone and e-mail, and users' e-mail and phone are stored sealed
with ``PRM_SECRETS_KEY`` (services/common/sealing.py), which makes them longer: the columns
become TEXT. The rows written before are left as they are, readable by the replicas of the
release before while a rolling upgrade goes on: ``manage.py reseal partners`` seals them
once every replica runs this release.

SQLite does not hold a VARCHAR to its length, so nothing changes there (altering a column
would rebuild the table).

Answers now show personal data masked unless the caller's role holds
``customer.pii.reveal``: the built-in roles that should keep seeing it (HQ admin, channel
manager, partner admin, partner sales; ``catalogue.REVEALING_ROLES``) get the permission
here, so that an upgrade takes nothing from their users (the HQ admin role gets it from
``manage.py migrate`` in any case).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.sealing import is_sealed, unseal

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> column -> its type before (all may be NULL)
SEALED = {
    "partners": {
        "contact_name": sa.String(length=100),
        "contact_phone": sa.String(length=30),
        "contact_email": sa.String(length=200),
    },
    "users": {
        "email": sa.String(length=200),
        "phone": sa.String(length=30),
    },
}


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


REVEAL = "customer.pii.reveal"
REVEALING_ROLES = ("hq_admin", "channel_manager", "partner_admin", "partner_sales")

roles = sa.table(
    "roles",
    sa.column("id", sa.BigInteger),
    sa.column("code", sa.String),
    sa.column("permissions", sa.JSON),
    sa.column("builtin", sa.Boolean),
)


def _grant(give: bool) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(roles.c.id, roles.c.permissions).where(
            roles.c.code.in_(REVEALING_ROLES), roles.c.builtin.is_(True)
        )
    ).all()
    for row in rows:
        held = list(row.permissions or [])
        if give and REVEAL not in held:
            held = sorted([*held, REVEAL])
        elif not give and REVEAL in held:
            held.remove(REVEAL)
        else:
            continue
        connection.execute(roles.update().where(roles.c.id == row.id).values(permissions=held))


def upgrade() -> None:
    _grant(True)
    if _on_sqlite():
        return
    for table, columns in SEALED.items():
        for column, before in columns.items():
            op.alter_column(
                table, column, existing_type=before, type_=sa.Text(), existing_nullable=True
            )


def downgrade() -> None:
    _grant(False)
    # The release before reads plain text only: open what this one sealed.
    connection = op.get_bind()
    for name, columns in SEALED.items():
        table = sa.table(
            name, sa.column("id", sa.BigInteger), *(sa.column(c, sa.Text) for c in columns)
        )
        for row in connection.execute(sa.select(table)).all():
            values = {
                c: unseal(getattr(row, c))
                for c in columns
                if getattr(row, c) is not None and is_sealed(getattr(row, c))
            }
            if values:
                connection.execute(table.update().where(table.c.id == row.id).values(**values))
        if _on_sqlite():
            continue
        for column, before in columns.items():
            op.alter_column(
                name, column, existing_type=sa.Text(), type_=before, existing_nullable=True
            )
