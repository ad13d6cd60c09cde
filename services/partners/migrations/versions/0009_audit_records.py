"""the audit log, append-only

``audit_records`` keeps what every service records through ``services.common.audit``,
each record chained to the one before by its hash (``services/partners/audit.py``).

Append-only in the database itself: on PostgreSQL, triggers refuse UPDATE, DELETE and
TRUNCATE for every role, the owner and superusers included, and UPDATE, DELETE and
TRUNCATE are revoked from PUBLIC and from every role other than the owner that holds
them (an application role given rights by default privileges). On SQLite, triggers refuse
UPDATE and DELETE. A role with the owner's rights can still drop or disable the triggers
(``ALTER TABLE ... DISABLE TRIGGER``, ``session_replication_role = replica``): what such a
role changes, ``manage.py audit verify`` finds.

SQLite rebuilds a table to alter it (batch mode), which drops its triggers: a later
migration that alters ``audit_records`` must create them again (``create_triggers``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_records"

_POSTGRES_UP = (
    """
    CREATE FUNCTION audit_records_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit records are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_refuse()
    """,
    """
    CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_refuse()
    """,
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_records FROM PUBLIC",
)

_POSTGRES_DOWN = (
    "DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records",
    "DROP TRIGGER IF EXISTS audit_records_append_only ON audit_records",
    "DROP FUNCTION IF EXISTS audit_records_refuse()",
)

_SQLITE_UP = (
    """
    CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only: DELETE refused'); END
    """,
)

_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS audit_records_no_delete",
    "DROP TRIGGER IF EXISTS audit_records_no_update",
)

#: Roles other than the owner that hold a right to change the table (an application role
#: given them by ``ALTER DEFAULT PRIVILEGES``); grantee 0 is PUBLIC, revoked on its own.
_CHANGERS = """
    SELECT DISTINCT quote_ident(pg_get_userbyid(acl.grantee))
    FROM pg_class c, aclexplode(c.relacl) acl
    WHERE c.oid = 'audit_records'::regclass
      AND acl.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
      AND acl.grantee <> c.relowner AND acl.grantee <> 0
"""


def _on_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def create_triggers() -> None:
    """The triggers (and on PostgreSQL the revoked rights) that keep the table append-only."""
    if _on_postgres():
        for statement in _POSTGRES_UP:
            op.execute(statement)
        for (role,) in op.get_bind().execute(sa.text(_CHANGERS)).all():
            op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_records FROM {role}")
    else:
        for statement in _SQLITE_UP:
            op.execute(statement)


def drop_triggers() -> None:
    for statement in _POSTGRES_DOWN if _on_postgres() else _SQLITE_DOWN:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", services.common.db.BigIntPK, autoincrement=False, nullable=False),
        sa.Column("at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_partner_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_system", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_audit_records_at", TABLE, ["at"], unique=False)
    op.create_index("ix_audit_records_actor", TABLE, ["actor_id", "at"], unique=False)
    op.create_index(
        "ix_audit_records_subject", TABLE, ["subject_type", "subject_id", "at"], unique=False
    )
    op.create_index("ix_audit_records_action", TABLE, ["action", "at"], unique=False)
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_index("ix_audit_records_action", table_name=TABLE)
    op.drop_index("ix_audit_records_subject", table_name=TABLE)
    op.drop_index("ix_audit_records_actor", table_name=TABLE)
    op.drop_index("ix_audit_records_at", table_name=TABLE)
    op.drop_table(TABLE)
