"""Secrets at rest: values a service must read back (a webhook's signing secret, a robot's
token in its URL) and personal data (a contact's name, phone, e-mail and address: see
``services.common.pii``) are stored sealed, encrypted and authenticated, never in plain
text. ``Sealed`` is a text column so stored; ``SealedJSON`` a JSON value.

The key ring is ``PRM_SECRETS_KEY``: one key, or several separated by commas. The first
seals; every one opens. To replace a key: put the new one first and keep the old one after
it, restart, run ``manage.py reseal`` (every sealed value is then sealed with the new key),
and drop the old key. A database copied without the key gives away no secret.

A value is sealed with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``) under a
key derived from the configured one with HKDF, so any string of 32 characters or more is a
key, and stored as ``sealed:`` and the token. Sealing draws a fresh IV each time: a sealed
column cannot be searched or compared.

A value without the prefix was written before its column was sealed (or by a replica of
the release before, during a rolling upgrade): it is read as it is, and ``manage.py
reseal`` seals it. So a column becomes sealed without a migration that rewrites it under
the feet of the replicas still running the release before.
"""

from __future__ import annotations

import base64
import json
import os
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import MetaData, Text, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from services.common.config import get_secrets_keys, get_settings
from services.common.errors import InvalidInput

#: Binds the derived keys to this use, so that the same configured string used elsewhere
#: by mistake does not give away these values.
_PURPOSE = b"prm sealed values v1"
PREFIX = "sealed:"


class SealedValueUnreadable(RuntimeError):
    """A stored value was sealed with a key that ``PRM_SECRETS_KEY`` no longer holds (or
    was changed in the database): a deployment fault, not the caller's."""


def _fernet_key(key: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE)
    return base64.urlsafe_b64encode(derived.derive(key.encode()))


@lru_cache(maxsize=4)
def _ring(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def key_ring(keys: tuple[str, ...] | None = None) -> MultiFernet:
    """The configured ring, or the one of ``keys``."""
    return _ring(keys if keys is not None else get_secrets_keys())


def seal(value: str, keys: tuple[str, ...] | None = None) -> str:
    return PREFIX + key_ring(keys).encrypt(value.encode()).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def unseal(stored: str, keys: tuple[str, ...] | None = None) -> str:
    """The value ``stored`` holds: opened if sealed, as it is if written before sealing."""
    if not is_sealed(stored):
        return stored
    return _open(stored, keys if keys is not None else get_secrets_keys())


#: Short sealed values opened lately (``_opened_kept``): how many, and the longest token
#: kept (a contact's name, phone or address, a channel's secret; not a sealed JSON
#: document such as an import row or a delivery's payload, mostly read once). At most
#: about 8 MB.
OPENED_KEPT = 8192
KEPT_TOKEN_LENGTH = 400


def unseal_short(stored: str) -> str:
    """``unseal`` with the configured ring, keeping a short value opened for its next read
    (a page of customers read again and again opened the same 60 tokens each time, a sixth
    of the list's cost)."""
    if not is_sealed(stored):
        return stored
    if len(stored) > KEPT_TOKEN_LENGTH:
        return _open(stored, get_secrets_keys())
    return _opened_kept(stored, get_secrets_keys())


@lru_cache(maxsize=OPENED_KEPT)
def _opened_kept(stored: str, keys: tuple[str, ...]) -> str:
    """``_open``, kept by token and ring. Each sealing draws a fresh IV, so a value changed
    or sealed again (``manage.py reseal``) is another token; a token that does not open
    raises and is not kept; a key taken out of the ring takes a restart, which empties
    this. The process that holds the ring may hold what it opens."""
    return _open(stored, keys)


def _open(stored: str, keys: tuple[str, ...]) -> str:
    try:
        return key_ring(keys).decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SealedValueUnreadable(
            "a stored secret cannot be opened with the keys of PRM_SECRETS_KEY: it was"
            " sealed with a key that is no longer there"
        ) from exc


class Sealed(TypeDecorator):
    """A text column stored sealed: Python sees the plain value, the database never does.

    Queries cannot compare it (each sealing differs, so ``==`` would never match): any
    comparison but ``IS NULL`` / ``IS NOT NULL`` is refused when the query is built.
    """

    impl = Text
    cache_ok = True

    class comparator_factory(Text.Comparator):  # SQLAlchemy looks for this name
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op not in (operators.is_, operators.is_not):
                raise TypeError(f"a sealed column cannot be compared in SQL ({op.__name__})")
            return super().operate(op, *other, **kwargs)

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else seal(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else unseal_short(value)


class SealedJSON(Sealed):
    """A JSON value stored sealed (as the text of its JSON). A value written before its
    column was sealed is JSON text without the prefix, read as it is."""

    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return super().process_bind_param(json.dumps(value, ensure_ascii=False), dialect)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):  # a JSON column's value, read before it became text
            return value
        return json.loads(unseal(value))


#: What a ``SealedBatch`` value starts with: ``PREFIX`` and a mark that is no Fernet token.
BATCH_PREFIX = PREFIX + "batch:"


class SealedBatch(SealedJSON):
    """A JSON value stored sealed behind ``BATCH_PREFIX``, in a column whose values were
    plain ``SealedJSON`` before (a lead import's waiting rows, kept one by one before they
    were kept a batch together). A reader of the column from before the change opens the
    mark as a token it has no key for, ``SealedValueUnreadable``, and leaves the value
    alone (an import pauses until a newer replica takes it), where it would have taken a
    batch of rows for one row. Values stored before the change are read as they were."""

    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        token = key_ring().encrypt(json.dumps(value, ensure_ascii=False).encode())
        return BATCH_PREFIX + token.decode("ascii")

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str) and value.startswith(BATCH_PREFIX):
            value = PREFIX + value[len(BATCH_PREFIX) :]
        return super().process_result_value(value, dialect)


def reseal_all(session: Session, metadata: MetaData) -> int:
    """Seal every value of ``metadata``'s sealed columns with the ring's first key: values
    sealed with an older key, and values written before their column was sealed. Rows are
    locked while they are read and written, so that a change made meanwhile is not undone.
    Returns the number of rows written; the caller commits."""
    rows = 0
    for table in metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, Sealed)]
        if not columns:
            continue
        keys = list(table.primary_key.columns)
        for row in session.execute(select(*keys, *columns).with_for_update()):
            where = [key == row._mapping[key] for key in keys]
            values = {column.name: row._mapping[column] for column in columns}
            session.execute(update(table).where(*where).values(values))
            rows += 1
    return rows


# -- secrets on the bus -----------------------------------------------------------------
#
# A secret that must cross the bus (a password on its way to the partners service, a
# refresh token on its way back to the gateway) is sealed for its one recipient: AES-GCM
# under a key derived with HKDF from the internal key and the recipient's name (a purpose
# of its own, distinct from the values at rest), with the recipient's name as associated
# data. Whoever reads the bus reads ``sealed-for:`` and noise.

_BUS_PURPOSE = b"prm bus secrets v1:"
BUS_PREFIX = "sealed-for:"


class NotSealedFor(ValueError):
    """A value that must arrive sealed for this recipient came in plain, or sealed for
    another recipient or with another key, or was changed on the way."""


@lru_cache(maxsize=16)
def _bus_cipher(key: str, recipient: str) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=_BUS_PURPOSE + recipient.encode()
    )
    return AESGCM(derived.derive(key.encode()))


def seal_for(recipient: str, value: str, key: str | None = None) -> str:
    """``value`` sealed so that only ``recipient`` (a service's name, or ``gateway``)
    opens it (``open_sealed_for``)."""
    nonce = os.urandom(12)
    cipher = _bus_cipher(key or get_settings().internal_key, recipient)
    sealed = cipher.encrypt(nonce, value.encode(), recipient.encode())
    return BUS_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_sealed_for(recipient: str, value: object, key: str | None = None) -> str:
    """The value ``seal_for(recipient, ...)`` sealed; NotSealedFor if ``value`` is not one
    (plain text is refused, never taken as it is)."""
    if not isinstance(value, str) or not value.startswith(BUS_PREFIX):
        raise NotSealedFor(f"a value sealed for {recipient} was expected")
    try:
        raw = base64.urlsafe_b64decode(value[len(BUS_PREFIX) :].encode("ascii"))
        cipher = _bus_cipher(key or get_settings().internal_key, recipient)
        return cipher.decrypt(raw[:12], raw[12:], recipient.encode()).decode()
    except (InvalidTag, ValueError) as exc:  # bad base64, too short, not UTF-8
        raise NotSealedFor(f"a value sealed for {recipient} was expected") from exc


def opened_field(payload: object, field: str, recipient: str) -> object:
    """A request's ``payload`` with its ``field`` (a password, a refresh token) opened for
    ``recipient``, at the entry point: the field must come sealed (``seal_for``), never in
    plain text on the bus (``InvalidInput`` naming the field). A payload without the field
    is left to its schema to refuse."""
    if not isinstance(payload, dict) or field not in payload:
        return payload
    try:
        return payload | {field: open_sealed_for(recipient, payload[field])}
    except NotSealedFor as exc:
        raise InvalidInput(
            "the request is not valid", errors={field: [f"must be sealed for {recipient}"]}
        ) from exc


def opened_for(recipient: str, value: Any) -> Any:
    """``value`` (decoded JSON: dicts, lists, text...) with each text sealed for
    ``recipient`` opened, and one that does not open left as it is: for comparing two
    requests (a sealing differs each time), never for using what they hold."""
    if isinstance(value, str) and value.startswith(BUS_PREFIX):
        try:
            return open_sealed_for(recipient, value)
        except NotSealedFor:
            return value
    if isinstance(value, dict):
        return {key: opened_for(recipient, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [opened_for(recipient, item) for item in value]
    return value
