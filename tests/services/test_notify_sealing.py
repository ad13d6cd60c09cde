"""Channel secrets at rest: what the notify database holds is sealed; the migration keeps
every row (on PostgreSQL and on SQLite) and leaves the rows written before it readable;
``manage.py reseal`` seals those and moves every secret to a new key, so that the old one
can be dropped."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session, undefer_group

from services.common import sealing
from services.common.config import get_secrets_keys
from services.common.db import make_engine
from services.common.migrations import alembic_config, upgrade
from services.common.timeutil import utcnow
from services.notify.models import SEALED, Channel
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "notify" / "migrations"
ROBOT_URL = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef0123456789abcdef"
SECRET = "f" * 64
ROBOT_SECRET = "SEC" + "a1b2c3" * 10


@pytest.fixture
def database() -> Iterator[str]:
    name = f"prm_test_notify_seal_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    yield url
    infra.drop_database(name)


def raw_channels(url: str) -> list[dict]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, target, secret, robot_secret FROM channels ORDER BY id")
        )
        found = [dict(row._mapping) for row in rows]
    engine.dispose()
    return found


def add_channel(url: str) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        channel = Channel(
            scope="user",
            owner_user_id=7,
            kind="webhook",
            target=ROBOT_URL,
            format="dingtalk",
            events=["order_approved"],
            secret=SECRET,
            robot_secret=ROBOT_SECRET,
        )
        session.add(channel)
        session.commit()
        channel_id = channel.id
    engine.dispose()
    return channel_id


def read_channel(url: str, channel_id: int) -> Channel:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        channel = session.get(Channel, channel_id, options=[undefer_group(SEALED)])
    engine.dispose()
    return channel


def test_the_database_holds_no_channel_secret_in_plain_text(database) -> None:
    upgrade("notify", MIGRATIONS, database)
    channel_id = add_channel(database)
    (row,) = raw_channels(database)
    for column, plain in (
        ("target", ROBOT_URL),
        ("secret", SECRET),
        ("robot_secret", ROBOT_SECRET),
    ):
        assert plain not in row[column] and "access_token" not in row[column], column
        assert sealing.unseal(row[column]) == plain
    channel = read_channel(database, channel_id)
    assert (channel.target, channel.secret, channel.robot_secret) == (
        ROBOT_URL,
        SECRET,
        ROBOT_SECRET,
    )


def _write_at_0002(url: str) -> None:
    """A robot channel, an e-mail channel and a delivery, as the release before wrote them
    (ids 1 and 2 in a new database)."""
    engine = make_engine(url)
    with engine.begin() as connection:
        for values in (
            {"owner": 7, "kind": "webhook", "target": ROBOT_URL, "format": "dingtalk",
             "secret": SECRET, "robot": ROBOT_SECRET},
            {"owner": 8, "kind": "email", "target": "ops@example.com", "format": None,
             "secret": None, "robot": None},
        ):  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO channels (scope, owner_user_id, kind, target, format, events,"
                    " language, secret, robot_secret, active, consecutive_failures,"
                    " created_at, updated_at) VALUES ('user', :owner, :kind, :target, :format,"
                    " '[]', 'zh', :secret, :robot, true, 0, :now, :now)"
                ),
                values | {"now": utcnow()},
            )
        connection.execute(
            text(
                "INSERT INTO deliveries (channel_id, event_id, event, payload, status, attempts,"
                " next_attempt_at, created_at) VALUES (1, :event, 'lead_assigned', '{}',"
                " 'sent', 1, :now, :now)"
            ),
            {"event": secrets.token_hex(16), "now": utcnow()},
        )
    engine.dispose()


def count_deliveries(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
    engine.dispose()
    return found


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_the_migration_keeps_every_row_and_going_back_opens_what_was_sealed(
    backend, database, tmp_path
) -> None:
    url = database if backend == "postgresql" else f"sqlite:///{tmp_path / 'notify.db'}"
    config = alembic_config("notify", MIGRATIONS, url)
    command.upgrade(config, "0002")
    _write_at_0002(url)

    command.upgrade(config, "head")
    # Left as written, for the replicas of the release before, until reseal; readable.
    robot, _mail = raw_channels(url)
    assert (robot["id"], robot["target"], robot["secret"]) == (1, ROBOT_URL, SECRET)
    assert read_channel(url, 1).robot_secret == ROBOT_SECRET
    assert read_channel(url, 2).target == "ops@example.com"
    assert count_deliveries(url) == 1  # a table rebuild on SQLite would have cascaded

    add_channel(url)  # written by this release: sealed
    command.downgrade(config, "0002")
    rows = raw_channels(url)
    assert [(r["target"], r["secret"], r["robot_secret"]) for r in rows] == [
        (ROBOT_URL, SECRET, ROBOT_SECRET),
        ("ops@example.com", None, None),
        (ROBOT_URL, SECRET, ROBOT_SECRET),
    ]
    assert count_deliveries(url) == 1


def test_reseal_seals_what_was_written_before_and_moves_all_to_the_new_key(database) -> None:
    config = alembic_config("notify", MIGRATIONS, database)
    command.upgrade(config, "0002")
    _write_at_0002(database)
    command.upgrade(config, "head")
    sealed_id = add_channel(database)
    old = ",".join(get_secrets_keys())
    new = secrets.token_urlsafe(48)
    env = os.environ | {"NOTIFY_DATABASE_URL": database, "PRM_SECRETS_KEY": f"{new},{old}"}
    done = subprocess.run(
        [sys.executable, "manage.py", "reseal", "notify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # the three channels and the delivery (its payload is sealed too)
    assert "notify: 4 row(s) sealed with the newest key" in done.stdout
    rows = {row["id"]: row for row in raw_channels(database)}
    for channel_id in (1, sealed_id):
        opened = [
            sealing.unseal(rows[channel_id][c], keys=(new,))
            for c in ("target", "secret", "robot_secret")
        ]
        assert opened == [ROBOT_URL, SECRET, ROBOT_SECRET]
        assert all(sealing.is_sealed(rows[channel_id][c]) for c in ("target", "secret"))
        with pytest.raises(sealing.SealedValueUnreadable):
            sealing.unseal(rows[channel_id]["secret"], keys=get_secrets_keys())
    assert sealing.unseal(rows[2]["target"], keys=(new,)) == "ops@example.com"
    assert rows[2]["secret"] is None
