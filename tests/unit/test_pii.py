"""Personal data (services/common/pii.py): the blind index and the masked forms."""

from __future__ import annotations

import pytest

from services.common import pii
from services.common.context import Caller
from services.filing.keys import phone_form

NEW = "n" * 20 + "ew-key-0123456789"
OLD = "o" * 20 + "ld-key-0123456789"


# -- the blind index --------------------------------------------------------------------


def test_a_blind_index_is_stable_keyed_and_hides_the_value() -> None:
    index = pii.blind_index(pii.PHONE, "13800138000", (NEW,))
    assert index == pii.blind_index(pii.PHONE, "13800138000", (NEW,))
    assert index is not None and len(index) == pii.INDEX_LENGTH
    assert "13800138000" not in index
    assert index != pii.blind_index(pii.PHONE, "13800138000", (OLD,))
    assert index != pii.blind_index(pii.PHONE, "13800138001", (NEW,))


def test_a_blind_index_is_bound_to_its_kind() -> None:
    assert pii.blind_index(pii.PHONE, "13800138000", (NEW,)) != pii.blind_index(
        pii.ADDRESS, "13800138000", (NEW,)
    )


def test_a_blind_index_is_not_a_plain_digest_of_the_value() -> None:
    import hashlib
    import hmac

    value = "13800138000"
    assert pii.blind_index(pii.PHONE, value, (NEW,)) not in {
        hashlib.sha256(value.encode()).hexdigest(),
        hmac.new(NEW.encode(), value.encode(), hashlib.sha256).hexdigest(),
    }


def test_no_value_has_no_index() -> None:
    assert pii.blind_index(pii.PHONE, None, (NEW,)) is None
    assert pii.blind_index(pii.PHONE, "", (NEW,)) is None
    assert pii.blind_indexes(pii.PHONE, "", (NEW, OLD)) == []


def test_a_look_up_finds_what_every_key_of_the_ring_indexed_the_first_key_first() -> None:
    found = pii.blind_indexes(pii.PHONE, "13800138000", (NEW, OLD))
    assert found == [
        pii.blind_index(pii.PHONE, "13800138000", (NEW,)),
        pii.blind_index(pii.PHONE, "13800138000", (OLD,)),
    ]
    # what is stored is under the first key only
    assert pii.blind_index(pii.PHONE, "13800138000", (NEW, OLD)) == found[0]


@pytest.mark.parametrize(
    "written", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "0086 13800138000"]
)
def test_a_phone_is_indexed_in_the_form_the_duplicate_check_keys_it(written: str) -> None:
    assert pii.blind_index(pii.PHONE, phone_form(written), (NEW,)) == pii.blind_index(
        pii.PHONE, "13800138000", (NEW,)
    )


def test_a_landline_is_indexed_by_its_digits() -> None:
    assert phone_form("0571-8888 8888") == "057188888888"


# -- masking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13800138000", "138****8000"),
        ("057188888888", "057*****8888"),
        ("12345", "****"),
        ("12", "****"),
        (None, None),
    ],
)
def test_a_phone_shows_its_first_three_and_last_four_digits(
    phone: str | None, shown: str | None
) -> None:
    assert pii.mask_phone(phone) == shown


@pytest.mark.parametrize(
    ("name", "shown"),
    [("王敏", "王*"), ("欧阳娜娜", "欧***"), ("赵", "*"), ("Wang Min", "W*******")],
)
def test_a_name_shows_its_first_character(name: str, shown: str) -> None:
    assert pii.mask_name(name) == shown


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        ("wang@example.com", "w***@example.com"),
        ("w@example.com", "w***@example.com"),
        ("not-an-email", "n***"),
    ],
)
def test_an_email_shows_its_first_character_and_its_domain(email: str, shown: str) -> None:
    assert pii.mask_email(email) == shown


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("浙江省宁波市海曙区中山西路1号", "浙江省宁波市海曙区****"),
        ("杭州市西湖区文三路90号", "杭州市西湖区****"),
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("新疆维吾尔自治区乌鲁木齐市天山区解放南路1号", "新疆维吾尔自治区乌鲁木齐市天山区****"),
        ("浙江省淳安县千岛湖镇1号", "浙江省淳安县****"),
        ("中山西路1号", "****"),
        ("浙江省宁波市海曙区", "浙江省宁波市海曙区"),
        # no province or city first: what looks like a district is the street
        ("幸福小区", "****"),
        ("建国路88号小区", "****"),
    ],
)
def test_an_address_keeps_its_district_and_hides_its_street(address: str, shown: str) -> None:
    assert pii.mask_address(address) == shown


def _caller(*permissions: str, user_id: int = 7) -> Caller:
    return Caller(
        user_id=user_id,
        partner_id=3,
        partner_ids=frozenset({3}),
        permissions=frozenset(permissions),
    )


def test_answers_are_masked_unless_the_caller_may_reveal() -> None:
    answer = {
        "id": 1,
        "name": "杭州西湖科技有限公司",
        "contact_name": "王敏",
        "phone": "13800138000",
        "address": "杭州市西湖区文三路90号",
    }
    masked = pii.masked(answer, _caller("customer.create"))
    assert masked == answer | {
        "contact_name": "王*",
        "phone": "138****8000",
        "address": "杭州市西湖区****",
    }
    assert answer["phone"] == "13800138000", "the answer itself is left as it was"
    assert pii.masked(answer, _caller(pii.REVEAL)) == answer
    assert pii.masked(answer, None)["phone"] == "138****8000"


def test_only_the_fields_named_are_masked() -> None:
    answer = {"email": "wang@example.com", "phone": "13800138000"}
    assert pii.masked(answer, _caller(), ("email",)) == {
        "email": "w***@example.com",
        "phone": "13800138000",
    }


def test_missing_values_stay_missing() -> None:
    assert pii.masked({"phone": None, "address": None}, _caller()) == {
        "phone": None,
        "address": None,
    }


# -- a sealed JSON column (notify's delivery payloads) ------------------------------------


def test_a_sealed_json_value_is_stored_sealed_and_read_back() -> None:
    from services.common.sealing import SealedJSON, is_sealed

    column = SealedJSON()
    value = {"title": "线索已分配", "contact": "王敏", "phone": "13800138000"}
    stored = column.process_bind_param(value, None)
    assert stored is not None and is_sealed(stored)
    assert "13800138000" not in stored and "王敏" not in stored
    assert column.process_result_value(stored, None) == value
    # written before the column was sealed: JSON text, or a JSON column's value
    assert column.process_result_value('{"a": "王"}', None) == {"a": "王"}
    assert column.process_result_value({"a": 1}, None) == {"a": 1}
    assert column.process_bind_param(None, None) is None
