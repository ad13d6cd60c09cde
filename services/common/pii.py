"""Personal data: blind indexes for the values that must stay searchable while they are
stored sealed, and the masked forms answers show to callers not allowed to see them.

**What is personal data here**: a contact's name, phone, e-mail and street address (on
customers, leads and partners) and a user's e-mail and phone. Each is stored sealed
(``services.common.sealing.Sealed``): a copy of a database without ``PRM_SECRETS_KEY``
gives none of them away.

**Blind index.** A sealed value cannot be compared in SQL (each sealing differs), so a
value that must be found exactly (a customer's or a lead's phone for the duplicate check
and the look-ups) is also stored as its blind index: HMAC-SHA256 of its normalised form
under a key derived from the first key of ``PRM_SECRETS_KEY`` by HKDF with a purpose of
its own (so the index key is neither the sealing key nor usable to open anything). Without
the key an index cannot be computed, so it cannot be reversed by trying every mobile
number. Each index is bound to its kind (``phone``, ``address``): the same text under two
kinds gives two unrelated indexes.

**Key rotation costs a rewrite of every index.** An index made with the old key does not
equal one made with the new one. So a look-up computes the value's index under every key
of the ring (``blind_indexes``: one more value in an ``IN`` per old key, no more reads)
and finds rows indexed under either, while new rows are indexed under the first key
(``blind_index``). ``manage.py reseal`` recomputes every stored index with the first key
(one pass over the rows of each indexed table, the same pass that reseals them); only
after it has run may the old key be dropped, or rows still indexed under it are no longer
found (a duplicate would pass the check by phone; its name and USCC keys still hold).

**Masking.** ``mask_phone`` keeps the first three and the last four digits
(``138****8000``); ``mask_name`` keeps the first character and puts ``*`` for each other
(``王*``, ``欧阳**``; a one-character name shows as ``*``); ``mask_email`` keeps the first
character of the local part (``w***@example.com``); ``mask_address`` keeps the
administrative part up to the district or county (``浙江省宁波市海曙区****``) and hides the
street and number. The service that builds an answer masks it, through ``masked``, unless
the caller holds ``REVEAL`` (a user always sees its own e-mail and phone).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.common.config import get_secrets_keys
from services.common.context import Caller

#: The permission that lets answers show personal data unmasked.
REVEAL = "customer.pii.reveal"

#: Binds the derived keys to blind indexes: neither a sealing key nor anything else.
_PURPOSE = b"prm blind index v1"
#: The length of a stored blind index (hex SHA-256).
INDEX_LENGTH = 64

#: The services whose answers to idempotent calls hold personal data: they are stored
#: sealed (``services.common.idempotency``), as the data itself is.
SEALED_ANSWERS = frozenset({"filing", "partners", "notify"})

PHONE = "phone"
ADDRESS = "address"

MASK = "****"


@lru_cache(maxsize=8)
def _index_key(key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(key.encode())


def _ring(keys: tuple[str, ...] | None) -> tuple[str, ...]:
    return keys if keys is not None else get_secrets_keys()


def _index(key: str, kind: str, value: str) -> str:
    message = kind.encode() + b"\x00" + value.encode()
    return hmac.digest(_index_key(key), message, "sha256").hex()


def blind_index(kind: str, value: str | None, keys: tuple[str, ...] | None = None) -> str | None:
    """The index stored for ``value`` (already in its normalised form) of ``kind``, under the
    ring's first key; None for no value."""
    if not value:
        return None
    return _index(_ring(keys)[0], kind, value)


def blind_indexes(kind: str, value: str | None, keys: tuple[str, ...] | None = None) -> list[str]:
    """What a look-up of ``value`` compares with: its index under every key of the ring,
    the first key's first (rows indexed before a rotation are still found)."""
    if not value:
        return []
    return [_index(key, kind, value) for key in _ring(keys)]


# -- masking ----------------------------------------------------------------------------

_ADMINISTRATIVE = re.compile(
    r"^(?P<province>.{1,12}?(?:省|自治区|特别行政区))?"
    r"(?P<city>.{1,12}?(?:市|自治州|地区|盟))?"
    r"(?:.{1,12}?(?:区|县|旗|市))?"
)


def mask_phone(phone: str | None) -> str | None:
    """``138****8000``: the first three and last four characters of a number of eight or
    more; a shorter one is hidden whole (its few digits would say too much)."""
    if not phone:
        return phone
    if len(phone) >= 8:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return MASK


def mask_name(name: str | None) -> str | None:
    """``王*``: the first character, then ``*`` for each other; one character is ``*``."""
    if not name:
        return name
    if len(name) == 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_email(email: str | None) -> str | None:
    """``w***@example.com``: the local part's first character; the domain stays."""
    if not email:
        return email
    local, at, domain = email.rpartition("@")
    if not at:
        return email[:1] + "***"
    return (local[:1] or "") + "***@" + domain


def mask_address(address: str | None) -> str | None:
    """The province, city and district or county an address opens with; the street and
    number as ``****``. An address that does not open with a province or a city (``幸福小区``,
    ``建国路88号小区``) is hidden whole: what looks like a district there is the street."""
    if not address:
        return address
    kept = _ADMINISTRATIVE.match(address)
    if kept is None or not (kept.group("province") or kept.group("city")):
        return MASK
    prefix = kept.group(0)
    if len(prefix) >= len(address):
        return address  # names no street: a district is no one's address
    return prefix + MASK


#: field -> how it is masked, for the fields answers name.
MASKS: dict[str, Callable[[Any], Any]] = {
    "phone": mask_phone,
    "contact_phone": mask_phone,
    "contact_name": mask_name,
    "email": mask_email,
    "contact_email": mask_email,
    "address": mask_address,
}


def may_reveal(caller: Caller | None) -> bool:
    """Whether answers to ``caller`` show personal data unmasked."""
    return caller is not None and caller.has(REVEAL)


def masked(data: dict, caller: Caller | None, fields: Iterable[str] | None = None) -> dict:
    """``data`` (an answer) with its personal fields masked, unless ``caller`` may see
    them; ``fields`` limits which (default: every field of ``MASKS`` it has)."""
    if may_reveal(caller):
        return data
    names = MASKS.keys() if fields is None else fields
    result = dict(data)
    for name in names:
        if name in result and result[name] is not None:
            result[name] = MASKS[name](result[name])
    return result
