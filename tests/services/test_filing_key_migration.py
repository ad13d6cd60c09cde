"""Filing's 0005 recomputes the name keys of customers stored under the earlier rule, on
PostgreSQL and on SQLite: a name filed with an invisible character in it gets the key of
the name it imitates, and of two customers that now share a key the first filed keeps it."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from services.common.db import make_engine
from services.common.migrations import alembic_config
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name = f"prm_test_filing_keys_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    yield url
    infra.drop_database(name)


# (id, name, its name key under the rule before 0005)
STORED = [
    (1, "杭州西湖科技有限公司", "杭州西湖科技"),
    (2, "杭州西湖\u200b科技有限公司", "杭州西湖\u200b科技"),  # the same company, disguised
    (3, "Асmе Trading Co., Ltd.", "асmеtrading"),  # Cyrillic А с е
    (4, "宁波海曙贸易有限公司", "宁波海曙贸易"),
    (5, "Cafe\u0301 Noir", "cafe\u0301noir"),
]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_stored_name_keys_follow_the_new_rule(backend, request, tmp_path, caplog) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = alembic_config("filing", ROOT / "services" / "filing" / "migrations", url)
    command.upgrade(config, "0004")
    engine = make_engine(url)
    with engine.begin() as connection:
        for id_, name, key in STORED:
            connection.execute(
                text(
                    "INSERT INTO customers (id, name, contact_name, phone, region_code, source,"
                    " status, owner_partner_id, protection_days, created_at, updated_at)"
                    " VALUES (:id, :name, '王', :phone, '330106', 'partner', 'protected', :id,"
                    " 180, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": id_, "name": name, "phone": f"1380013800{id_}"},
            )
            connection.execute(
                text("INSERT INTO customer_keys VALUES ('name', :key, :id)"),
                {"key": key, "id": id_},
            )
            connection.execute(
                text("INSERT INTO customer_keys VALUES ('phone', :phone, :id)"),
                {"phone": f"1380013800{id_}", "id": id_},
            )

    with caplog.at_level(logging.WARNING):
        command.upgrade(config, "head")

    with engine.connect() as connection:
        names = dict(
            connection.execute(
                text("SELECT customer_id, value FROM customer_keys WHERE kind = 'name'")
            ).all()
        )
        phones = connection.execute(
            text("SELECT count(*) FROM customer_keys WHERE kind = 'phone'")
        ).scalar_one()
    engine.dispose()
    assert names == {1: "杭州西湖科技", 3: "acrnetrading", 4: "宁波海曙贸易", 5: "cafenoir"}
    assert phones == len(STORED)  # only name keys are touched
    assert "customer 2 shares its name key with customer 1" in caplog.text


# (id, name, phone as stored, its name key and phone key under the rule before 0007)
STORED_BEFORE_0007 = [
    (1, "杭州西湖科技有限公司", "13800138001", "杭州西湖科技", "13800138001"),
    (2, "杭州\u2ec4湖科技有限公司", "13800138002", "杭州湖科技", "13800138002"),  # ⻄ for 西
    (3, "宁波\u2ef0湖贸易有限公司", "١٣٨٠٠١٣٨٠٠٣", "宁波湖贸易", "١٣٨٠٠١٣٨٠٠٣"),  # ⻰ for 龙
    (4, "温州瓯海贸易有限公司", "13800138003", "温州瓯海贸易", "13800138003"),
    (5, "台州椒江贸易有限公司", "0571-8888\u0968\u0968\u0968\u0968", None, None),  # landline
]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_radicals_and_other_digits_are_rekeyed_by_0007(backend, request, tmp_path, caplog) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = alembic_config("filing", ROOT / "services" / "filing" / "migrations", url)
    command.upgrade(config, "0006")
    engine = make_engine(url)
    with engine.begin() as connection:
        for id_, name, phone, name_key, phone_key in STORED_BEFORE_0007:
            connection.execute(
                text(
                    "INSERT INTO customers (id, name, contact_name, phone, region_code, source,"
                    " status, owner_partner_id, protection_days, created_at, updated_at)"
                    " VALUES (:id, :name, '王', :phone, '330106', 'partner', 'protected', :id,"
                    " 180, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": id_, "name": name, "phone": phone},
            )
            for kind, key in (("name", name_key), ("phone", phone_key)):
                if key is not None:
                    connection.execute(
                        text("INSERT INTO customer_keys VALUES (:kind, :key, :id)"),
                        {"kind": kind, "key": key, "id": id_},
                    )

    with caplog.at_level(logging.WARNING):
        command.upgrade(config, "0007")

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, customer_id, value FROM customer_keys")).all()
        stored_phones = dict(connection.execute(text("SELECT id, phone FROM customers")).all())
    engine.dispose()
    keys = {(kind, id_): value for kind, id_, value in rows}
    assert keys == {
        ("name", 1): "杭州西湖科技",
        ("name", 3): "宁波龙湖贸易",
        ("name", 4): "温州瓯海贸易",
        ("phone", 1): "13800138001",
        ("phone", 2): "13800138002",
        ("phone", 3): "13800138003",  # the first filed keeps it
    }
    assert "customer 2 shares its name key with customer 1" in caplog.text
    assert "customer 4 shares its phone key with customer 3" in caplog.text
    assert stored_phones[3] == "13800138003"
    assert stored_phones[5] == "0571-88882222"


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0008_keys_phones_by_their_blind_index_and_reads_plain_values(
    backend, request, tmp_path
) -> None:
    from services.common import pii
    from services.filing.models import Customer, Lead

    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = alembic_config("filing", ROOT / "services" / "filing" / "migrations", url)
    command.upgrade(config, "0007")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customers (id, name, contact_name, phone, address, region_code,"
                " source, status, owner_partner_id, protection_days, created_at, updated_at)"
                " VALUES (1, '杭州西湖科技有限公司', '王敏', '13800138001',"
                " '杭州市西湖区文三路90号', '330106', 'partner', 'protected', 1, 180,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(text("INSERT INTO customer_keys VALUES ('phone', '13800138001', 1)"))
        connection.execute(
            text(
                "INSERT INTO leads (id, name, contact_name, phone, status, created_at)"
                " VALUES (1, '宁波海曙贸易有限公司', '赵', '+86 137 0013 7000', 'unassigned',"
                " CURRENT_TIMESTAMP)"
            )
        )

    command.upgrade(config, "head")

    index = pii.blind_index(pii.PHONE, "13800138001")
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT kind, value FROM customer_keys")).all()
        customer = connection.execute(
            text("SELECT phone, phone_index, address_index FROM customers")
        ).one()
        lead_index = connection.execute(text("SELECT phone_index FROM leads")).scalar_one()
    assert keys == [("phone", index)], "the phone key is no longer the number"
    assert customer.phone == "13800138001", "left in plain text until manage.py reseal"
    assert customer.phone_index == index
    assert customer.address_index == pii.blind_index(pii.ADDRESS, "杭州市西湖区文三路90号")
    assert lead_index == pii.blind_index(pii.PHONE, "13700137000")
    from sqlalchemy.orm import Session

    with Session(engine) as session:  # a plain value written before is read as it is
        assert session.get(Customer, 1).contact_name == "王敏"
        assert session.get(Lead, 1).phone == "+86 137 0013 7000"

    command.downgrade(config, "0007")
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT kind, value FROM customer_keys")).all()
    engine.dispose()
    assert keys == [("phone", "13800138001")]


def test_reseal_seals_plain_values_and_moves_every_blind_index_to_the_new_key(
    postgres_url,
) -> None:
    import os
    import subprocess
    import sys

    from services.common import pii, sealing
    from services.common.config import get_secrets_keys

    config = alembic_config("filing", ROOT / "services" / "filing" / "migrations", postgres_url)
    command.upgrade(config, "head")
    engine = make_engine(postgres_url)
    old = get_secrets_keys()
    with engine.begin() as connection:  # as written before sealing, indexed under the old key
        connection.execute(
            text(
                "INSERT INTO customers (id, name, contact_name, phone, phone_index, region_code,"
                " source, status, owner_partner_id, protection_days, created_at, updated_at)"
                " VALUES (1, '杭州西湖科技有限公司', '王敏', '13800138001', :index, '330106',"
                " 'partner', 'protected', 1, 180, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"index": pii.blind_index(pii.PHONE, "13800138001", old)},
        )
        connection.execute(
            text("INSERT INTO customer_keys VALUES ('phone', :index, 1)"),
            {"index": pii.blind_index(pii.PHONE, "13800138001", old)},
        )
    new = "n" * 20 + "ew-key-for-the-reseal-test"
    env = os.environ | {"FILING_DATABASE_URL": postgres_url, "PRM_SECRETS_KEY": f"{new},{old[0]}"}
    done = subprocess.run(
        [sys.executable, "manage.py", "reseal", "filing"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "filing: 1 row(s) sealed with the newest key, 1 reindexed" in done.stdout
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT contact_name, phone, phone_index FROM customers")
        ).one()
        key = connection.execute(text("SELECT value FROM customer_keys")).scalar_one()
    engine.dispose()
    assert sealing.unseal(row.phone, keys=(new,)) == "13800138001"
    assert sealing.unseal(row.contact_name, keys=(new,)) == "王敏"
    assert row.phone_index == key == pii.blind_index(pii.PHONE, "13800138001", (new,))
