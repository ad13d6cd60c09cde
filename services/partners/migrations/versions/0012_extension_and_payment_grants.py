"""extension approval and payments received: the built-in roles' new permissions

The built-in roles get here what a new installation is seeded with
(``catalogue.SEED_ROLES``), so that an upgrade gives existing installations the same:
``extension.approve`` to channel managers and the channel director (延期申请),
``payment.record`` and ``payment.manage`` to finance (回款, credit limits). The HQ admin
role gets every HQ permission from ``manage.py migrate`` in any case.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: permission -> the built-in roles that get it.
GRANTS = {
    "extension.approve": ("channel_manager", "channel_director"),
    "payment.record": ("finance",),
    "payment.manage": ("finance",),
}

roles = sa.table(
    "roles",
    sa.column("id", sa.BigInteger),
    sa.column("code", sa.String),
    sa.column("permissions", sa.JSON),
    sa.column("builtin", sa.Boolean),
)


def upgrade() -> None:
    connection = op.get_bind()
    for permission, codes in GRANTS.items():
        rows = connection.execute(
            sa.select(roles.c.id, roles.c.permissions).where(
                roles.c.code.in_(codes), roles.c.builtin.is_(True)
            )
        ).all()
        for row in rows:
            held = list(row.permissions or [])
            if permission not in held:
                connection.execute(
                    roles.update()
                    .where(roles.c.id == row.id)
                    .values(permissions=sorted([*held, permission]))
                )


def downgrade() -> None:
    """The permissions taken from every role that holds them: the release before does not
    know them."""
    connection = op.get_bind()
    for row in connection.execute(sa.select(roles.c.id, roles.c.permissions)).all():
        held = list(row.permissions or [])
        kept = [code for code in held if code not in GRANTS]
        if kept != held:
            connection.execute(roles.update().where(roles.c.id == row.id).values(permissions=kept))
