"""partner grades, the pool settings of partner types, and the channel-operation permissions

``partner_grades`` holds the grades (等级) HQ gives partners, seeded here once with 金牌
``gold``, 银牌 ``silver`` and 普通 ``standard`` (HQ may change or remove them later:
``PUT /partner-grades``; a later migration does not bring them back). ``partners.grade``
names a partner's grade (none for the partners there before). Partner types gain
``idle_release_days`` (off for the existing types) and ``reclaim_cooldown_days`` (30).

The built-in roles that should use the public pool and manual lead assignment get their
permissions here, so that an upgrade gives existing installations what a new one is seeded
with (``catalogue.SEED_ROLES``): ``pool.claim`` to partner admins and partner sales,
``lead.assign`` to channel managers (the HQ admin role gets every HQ permission from
``manage.py migrate`` in any case).

Plain ADD COLUMN, also on SQLite: a batch copy of ``partners`` there would lose the
expression index on lower(code), which SQLite's reflection cannot see.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The grades every installation starts with (as ``catalogue.SEED_GRADES`` on the day of
#: this migration): code, name, max protected customers, protection days, lead weight.
GRADES = (
    ("gold", "金牌", 500, None, 3),
    ("silver", "银牌", 200, None, 2),
    ("standard", "普通", 50, None, 1),
)

#: permission -> the built-in roles that get it.
GRANTS = {
    "pool.claim": ("partner_admin", "partner_sales"),
    "lead.assign": ("channel_manager",),
}

roles = sa.table(
    "roles",
    sa.column("id", sa.BigInteger),
    sa.column("code", sa.String),
    sa.column("permissions", sa.JSON),
    sa.column("builtin", sa.Boolean),
)


def _grant() -> None:
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
                held = sorted([*held, permission])
                connection.execute(
                    roles.update().where(roles.c.id == row.id).values(permissions=held)
                )


def _revoke() -> None:
    """The permissions taken from every role that holds them (HQ may have given them to
    roles of its own, the HQ admin role holds ``lead.assign``): the release before does not
    know them."""
    connection = op.get_bind()
    for row in connection.execute(sa.select(roles.c.id, roles.c.permissions)).all():
        held = list(row.permissions or [])
        kept = [code for code in held if code not in GRANTS]
        if kept != held:
            connection.execute(roles.update().where(roles.c.id == row.id).values(permissions=kept))


def upgrade() -> None:
    grades = op.create_table(
        "partner_grades",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("max_protected_customers", sa.Integer(), nullable=True),
        sa.Column("protection_days", sa.Integer(), nullable=True),
        sa.Column("lead_weight", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.bulk_insert(
        grades,
        [
            {
                "code": code,
                "name": name,
                "max_protected_customers": cap,
                "protection_days": days,
                "lead_weight": weight,
            }
            for code, name, cap, days, weight in GRADES
        ],
    )
    op.add_column("partners", sa.Column("grade", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_partners_grade"), "partners", ["grade"], unique=False)
    op.add_column("partner_types", sa.Column("idle_release_days", sa.Integer(), nullable=True))
    op.add_column(
        "partner_types",
        sa.Column("reclaim_cooldown_days", sa.Integer(), server_default="30", nullable=False),
    )
    _grant()


def downgrade() -> None:
    _revoke()
    op.drop_column("partner_types", "reclaim_cooldown_days")
    op.drop_column("partner_types", "idle_release_days")
    op.drop_index(op.f("ix_partners_grade"), table_name="partners")
    op.drop_column("partners", "grade")
    op.drop_table("partner_grades")
