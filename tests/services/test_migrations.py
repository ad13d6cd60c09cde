"""Every service's migrations build exactly the tables its models describe, on PostgreSQL
and on SQLite, and go all the way down again: a model changed without a migration (or a
migration that differs from its model) fails here, not on a customer's upgrade."""

from __future__ import annotations

import importlib
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, String, inspect

from services.common.db import make_engine
from services.common.migrations import alembic_config
from services.common.models import CommonBase
from services.common.registry import SERVICES
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name = f"prm_test_migrations_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    yield url
    infra.drop_database(name)


def _models(service: str):
    return importlib.import_module(f"services.{service}.models").Base.metadata


def _alembic_own(difference, service: str) -> bool:
    return difference[0] == "remove_table" and difference[1].name == f"alembic_version_{service}"


def _string_length_only(difference) -> bool:
    """A VARCHAR's length changed: SQLite keeps no lengths (notify's 0003 widens on
    PostgreSQL only, so as not to rebuild its tables), nor tells JSON from text (notify's
    0005 makes a JSON column sealed text on PostgreSQL only)."""
    return isinstance(difference, list) and all(
        change[0] == "modify_type"
        and isinstance(getattr(change[5], "impl", change[5]), String | JSON)
        and isinstance(getattr(change[6], "impl", change[6]), String | JSON)
        for change in difference
    )


def _differences(url: str, service: str) -> list:
    sqlite = url.startswith("sqlite")
    engine = make_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        with warnings.catch_warnings():
            # SQLite does not reflect expression indexes (lower(code)); PostgreSQL does.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection")
            warnings.filterwarnings("ignore", ".*expression-based index")
            compared = compare_metadata(context, [_models(service), CommonBase.metadata])
        found = [
            difference
            for difference in compared
            if not _alembic_own(difference, service)
            and not (sqlite and _string_length_only(difference))
        ]
    engine.dispose()
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migrations_build_what_the_models_describe(service, backend, request, tmp_path) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = alembic_config(service, ROOT / "services" / service / "migrations", url)
    command.upgrade(config, "head")
    assert _differences(url, service) == []

    command.downgrade(config, "base")
    engine = make_engine(url)
    left = set(inspect(engine).get_table_names()) - {f"alembic_version_{service}"}
    engine.dispose()
    assert left == set()
    command.upgrade(config, "head")  # and up again, from nothing
