"""Alembic, one version table per service; an advisory lock makes concurrent runs safe."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text

from services.common.config import get_settings
from services.common.db import make_engine
from services.common.models import CommonBase

log = logging.getLogger(__name__)

_LOCK_ID = 728_431_007  # any constant; shared by all migration runs of the project


def alembic_config(service: str, migrations_dir: Path, url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url or get_settings().database_url(service))
    config.attributes["service"] = service
    return config


def upgrade(service: str, migrations_dir: Path, url: str | None = None) -> None:
    """Bring ``service``'s database to the newest revision."""
    url = url or get_settings().database_url(service)
    engine = make_engine(url)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            connection.commit()
        try:
            config = alembic_config(service, migrations_dir, url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                connection.commit()
    engine.dispose()
    log.info("migrated %s", service)


def run_env(context: object, service: str, metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    config = context.config
    target = [metadata, CommonBase.metadata]
    version_table = f"alembic_version_{service}"
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _configure_and_run(context, connection, target, version_table)
            connection.commit()
        return
    _configure_and_run(context, connection, target, version_table)


def _configure_and_run(context, connection, target, version_table) -> None:
    context.configure(
        connection=connection,
        target_metadata=target,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_idempotent_calls_table() -> None:
    """For a service's migration: the table of ``IdempotentCall``, as every service has it."""
    import sqlalchemy as sa
    from alembic import op

    from services.common.db import BigIntPK, UTCDateTime

    op.create_table(
        "idempotent_calls",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("caller", "method", "key", name="uq_idempotent_calls"),
    )
    op.create_index("ix_idempotent_calls_created_at", "idempotent_calls", ["created_at"])


def drop_idempotent_calls_table() -> None:
    from alembic import op

    op.drop_index("ix_idempotent_calls_created_at", table_name="idempotent_calls")
    op.drop_table("idempotent_calls")
