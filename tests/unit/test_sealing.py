"""Sealed values (services/common/sealing.py) and their key ring (PRM_SECRETS_KEY)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common import sealing
from services.common.config import ConfigError, _key_ring, get_secrets_keys

OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40


def test_a_sealed_value_opens_to_itself_and_shows_nothing_of_it() -> None:
    token = sealing.seal("SECabc 钉钉", keys=(OLD,))
    assert token.startswith("sealed:")
    raw = base64.urlsafe_b64decode(token.removeprefix("sealed:")).decode("latin-1")
    assert "SECabc" not in token and "SECabc" not in raw
    assert sealing.unseal(token, keys=(OLD,)) == "SECabc 钉钉"


def test_a_value_written_before_sealing_is_read_as_it_is() -> None:
    assert sealing.unseal("https://h.example/hook?key=k", keys=(OLD,)) == (
        "https://h.example/hook?key=k"
    )


def test_the_same_value_seals_differently_each_time() -> None:
    assert sealing.seal("x", keys=(OLD,)) != sealing.seal("x", keys=(OLD,))


def test_the_first_key_seals_and_every_key_of_the_ring_opens() -> None:
    before = sealing.seal("secret", keys=(OLD,))
    after = sealing.seal("secret", keys=(NEW, OLD))
    assert sealing.unseal(before, keys=(NEW, OLD)) == "secret"
    assert sealing.unseal(after, keys=(NEW,)) == "secret"
    with pytest.raises(sealing.SealedValueUnreadable):
        sealing.unseal(after, keys=(OLD,))


def test_a_value_sealed_with_a_key_no_longer_there_is_unreadable_not_garbage() -> None:
    token = sealing.seal("secret", keys=(OLD,))
    with pytest.raises(sealing.SealedValueUnreadable, match="PRM_SECRETS_KEY"):
        sealing.unseal(token, keys=(NEW,))


def test_an_edited_sealed_value_is_refused() -> None:
    token = sealing.seal("secret", keys=(OLD,))
    edited = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(sealing.SealedValueUnreadable):
        sealing.unseal(edited, keys=(OLD,))
    with pytest.raises(sealing.SealedValueUnreadable):
        sealing.unseal("sealed:not a token at all", keys=(OLD,))


def test_the_key_ring_takes_several_keys_newest_first(monkeypatch) -> None:
    monkeypatch.setenv("PRM_SECRETS_KEY", f" {NEW} , {OLD} ")
    assert _key_ring("PRM_SECRETS_KEY", production=True) == (NEW, OLD)


@pytest.mark.parametrize("value", [f"{NEW},short", "x" * 31, f"{NEW},,short"])
def test_a_short_key_in_the_ring_is_refused(monkeypatch, value) -> None:
    monkeypatch.setenv("PRM_SECRETS_KEY", value)
    with pytest.raises(ConfigError, match="32 characters"):
        _key_ring("PRM_SECRETS_KEY", production=True)


def test_production_without_the_key_does_not_start(monkeypatch) -> None:
    monkeypatch.delenv("PRM_SECRETS_KEY", raising=False)
    with pytest.raises(ConfigError, match="PRM_SECRETS_KEY is required"):
        _key_ring("PRM_SECRETS_KEY", production=True)


def test_locally_a_key_is_made_once_and_kept(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("PRM_SECRETS_KEY", raising=False)
    monkeypatch.setenv("PRM_VAR_DIR", str(tmp_path))
    first = _key_ring("PRM_SECRETS_KEY", production=False)
    assert len(first) == 1 and len(first[0]) >= 32
    assert _key_ring("PRM_SECRETS_KEY", production=False) == first
    assert (tmp_path / "keys" / "prm_secrets_key").read_text().strip() == first[0]


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(primary_key=True)
    secret: Mapped[str | None] = mapped_column(sealing.Sealed)


def test_a_sealed_column_stores_sealed_and_reseal_all_moves_it_to_the_newest_key(
    monkeypatch,
) -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    monkeypatch.setattr(sealing, "get_secrets_keys", lambda: (OLD,))
    with Session(engine) as session:
        session.add_all([Thing(id=1, secret="one"), Thing(id=2, secret=None)])
        session.commit()
    with engine.begin() as connection:
        stored = connection.execute(text("SELECT secret FROM things WHERE id = 1")).scalar_one()
        # a row from before the column was sealed
        connection.execute(text("INSERT INTO things (id, secret) VALUES (3, 'three')"))
    assert "one" not in stored and sealing.unseal(stored, keys=(OLD,)) == "one"

    monkeypatch.setattr(sealing, "get_secrets_keys", lambda: (NEW, OLD))
    with Session(engine) as session:
        assert session.get(Thing, 3).secret == "three"
    with Session(engine) as session:
        assert sealing.reseal_all(session, Base.metadata) == 3
        session.commit()
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT id, secret FROM things")).all())
    assert sealing.unseal(rows[1], keys=(NEW,)) == "one" and rows[2] is None
    assert sealing.is_sealed(rows[3]) and sealing.unseal(rows[3], keys=(NEW,)) == "three"

    monkeypatch.setattr(sealing, "get_secrets_keys", lambda: (NEW,))
    with Session(engine) as session:
        assert session.get(Thing, 1).secret == "one"


def test_the_configured_ring_is_the_one_sealing_uses() -> None:
    token = sealing.seal("x")
    assert sealing.unseal(token, keys=get_secrets_keys()) == "x"


def test_a_sealed_column_cannot_be_compared_in_a_query_but_tested_for_null() -> None:
    from sqlalchemy import select

    with pytest.raises(TypeError, match="cannot be compared"):
        select(Thing).where(Thing.secret == "one")
    with pytest.raises(TypeError, match="cannot be compared"):
        select(Thing).where(Thing.secret.contains("on"))
    assert "IS NULL" in str(select(Thing).where(Thing.secret.is_(None)))


def test_a_short_column_value_is_opened_once_and_a_document_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRM_SECRETS_KEY", NEW)
    sealing._opened_kept.cache_clear()
    phone = sealing.seal("13800138000")
    document = sealing.seal('{"note": "' + "长" * 300 + '"}')
    column, as_json = sealing.Sealed(), sealing.SealedJSON()
    for _ in range(3):
        assert column.process_result_value(phone, None) == "13800138000"
        assert as_json.process_result_value(document, None) == {"note": "长" * 300}
    kept = sealing._opened_kept.cache_info()
    assert (kept.misses, kept.hits, kept.currsize) == (1, 2, 1)  # the phone only


def test_a_column_value_that_does_not_open_fails_on_every_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRM_SECRETS_KEY", NEW)
    foreign = sealing.seal("13800138000", keys=(OLD,))
    for _ in range(2):
        with pytest.raises(sealing.SealedValueUnreadable):
            sealing.Sealed().process_result_value(foreign, None)


def test_a_batch_is_read_by_its_column_and_refused_by_a_reader_from_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRM_SECRETS_KEY", NEW)
    rows = [{"name": "甲公司", "phone": "13800138000"}, {"name": "乙公司", "phone": "13900139000"}]
    batch, before = sealing.SealedBatch(), sealing.SealedJSON()
    stored = batch.process_bind_param(rows, None)
    assert stored.startswith(sealing.BATCH_PREFIX) and "13800138000" not in stored
    assert batch.process_result_value(stored, None) == rows
    # A replica of the version before reads the column as SealedJSON: a sealed value it
    # cannot open, never a batch taken for one row.
    with pytest.raises(sealing.SealedValueUnreadable):
        before.process_result_value(stored, None)
    # What that version stored (one row, plain SealedJSON) is read as it was.
    assert batch.process_result_value(before.process_bind_param(rows[0], None), None) == rows[0]
