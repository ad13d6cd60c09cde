"""Keyed fields written with code points of other blocks and scripts: CJK radicals and
strokes drawn like a Han character, other scripts' decimal digits in a phone or a USCC,
private-use and unassigned code points, and names that grow under normalisation."""

from __future__ import annotations

import unicodedata

import pytest
from marshmallow import ValidationError

from services.filing.keys import (
    NAME_NFKC_MAX_LENGTH,
    customer_keys,
    normalise_mobile,
    normalise_name,
    normalise_uscc,
    unfit_name,
)
from services.filing.schemas import CustomerCheckIn, CustomerFileIn, LeadIn

HELD = "杭州西湖科技有限公司"
# CJK Radicals Supplement and the Han character each is drawn like.
RADICALS = {
    "\u2ec4": "西",
    "\u2ef0": "龙",
    "\u2ed4": "门",
    "\u2ee2": "马",
    "\u2ee9": "黄",
    "\u2ecb": "车",
    "\u2ed3": "长",
    "\u2edc": "飞",
    "\u2ec7": "角",  # by its name: CJK RADICAL HORN is KANGXI RADICAL HORN
    "\u2ec6": "角",  # CJK RADICAL SIMPLIFIED HORN
    "\u2ee6": "鸟",  # CJK RADICAL C-SIMPLIFIED BIRD
    "\u2e9f": "母",  # CJK RADICAL MOTHER
}
# Other scripts' decimal digits: Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali,
# Thai, Mathematical bold (NFKC folds those), full-width (NFKC folds those too).
ZEROS = ["\u0660", "\u06f0", "\u0966", "\u09e6", "\u0e50", "\U0001d7ce", "\uff10"]


def _digits(text: str, zero: str) -> str:
    return "".join(chr(ord(zero) + int(c)) if c.isdigit() else c for c in text)


def _assigned(start: int, end: int) -> list[str]:
    return [chr(cp) for cp in range(start, end + 1) if unicodedata.category(chr(cp)) != "Cn"]


@pytest.mark.parametrize("radical", sorted(RADICALS))
def test_a_cjk_radical_gives_the_key_of_the_han_character_it_looks_like(radical: str) -> None:
    han = RADICALS[radical]
    assert normalise_name(f"杭州{radical}湖科技有限公司") == normalise_name(
        f"杭州{han}湖科技有限公司"
    )


@pytest.mark.parametrize(
    "block",
    [
        (0x2E80, 0x2EFF),  # CJK Radicals Supplement
        (0x2F00, 0x2FD5),  # Kangxi Radicals
        (0x31C0, 0x31EF),  # CJK Strokes
        (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
        (0x2F800, 0x2FA1F),  # CJK Compatibility Ideographs Supplement
    ],
    ids=["radicals-supplement", "kangxi", "strokes", "compatibility", "compatibility-supplement"],
)
def test_no_radical_stroke_or_compatibility_ideograph_is_dropped_from_a_name(block) -> None:
    dropped = [
        f"U+{ord(ch):04X}"
        for ch in _assigned(*block)
        if normalise_name(f"杭州{ch}湖科技") == normalise_name("杭州湖科技")
    ]
    assert dropped == []


def test_kangxi_radicals_and_compatibility_ideographs_fold_as_nfkc_does() -> None:
    for ch in _assigned(0x2F00, 0x2FD5) + _assigned(0xF900, 0xFAFF):
        han = unicodedata.normalize("NFKC", ch)
        assert normalise_name(f"杭州{ch}湖") == normalise_name(f"杭州{han}湖"), f"{ord(ch):X}"


def test_slashes_and_dashes_stay_separators_though_they_look_like_han_strokes() -> None:
    assert normalise_name("A/B 科技") == normalise_name("A B 科技")
    assert normalise_name("杭州—西湖") == normalise_name("杭州西湖")


@pytest.mark.parametrize("zero", ZEROS)
def test_a_mobile_in_other_decimal_digits_is_the_same_ascii_number(zero: str) -> None:
    assert normalise_mobile(_digits("138 0013 8000", zero)) == "13800138000"
    assert normalise_mobile(_digits("+86 138-0013-8000", zero)) == "13800138000"


def test_a_mobile_with_digits_of_several_scripts_is_one_ascii_number() -> None:
    assert normalise_mobile("1380013800\u0966") == "13800138000"


@pytest.mark.parametrize("zero", ZEROS)
def test_a_uscc_in_other_decimal_digits_is_the_ascii_code(zero: str) -> None:
    assert normalise_uscc(_digits("91330106MA2B0GKQ04", zero)) == "91330106MA2B0GKQ04"


@pytest.mark.parametrize(
    "code", ["91٣٣٠١٠٦MA27XXXX1X", "91330106MA2B0GKQ0〇", "9133010６MA2B0GKQ0ⅳ"]
)
def test_a_malformed_uscc_in_other_characters_is_refused_without_error(code: str) -> None:
    assert normalise_uscc(code) is None


@pytest.mark.parametrize("schema", [CustomerCheckIn, CustomerFileIn])
def test_a_uscc_in_arabic_indic_digits_is_a_validation_error_of_the_uscc(schema) -> None:
    with pytest.raises(ValidationError) as refused:
        schema().load({"name": "某某科技有限公司", "uscc": "91٣٣٠١٠٦MA27XXXX1X"})
    assert "uscc" in refused.value.messages


def test_the_stored_phone_of_a_filing_is_the_ascii_form() -> None:
    data = CustomerFileIn().load(
        {
            "name": "某某科技有限公司",
            "contact_name": "李",
            "phone": _digits("13800138000", "\u0660"),
            "region_code": "330106",
        }
    )
    assert data["phone"] == "13800138000"


@pytest.mark.parametrize(
    "name",
    [
        "杭州西湖\ue000科技有限公司",  # private use
        "杭州西湖\U000f0000科技有限公司",  # supplementary private use
        "杭州西湖\u0378科技有限公司",  # unassigned
        "杭州西湖\U000e0080科技有限公司",  # unassigned, among the tags
    ],
)
def test_a_name_with_a_private_use_or_unassigned_code_point_is_refused(name: str) -> None:
    assert unfit_name(name) is not None
    for schema in (CustomerCheckIn, CustomerFileIn, LeadIn):
        with pytest.raises(ValidationError) as refused:
            schema().load({"name": name})
        assert "name" in refused.value.messages


def test_a_name_that_grows_past_the_limit_under_nfkc_is_refused() -> None:
    name = "\ufdfa" * 200  # 18 characters each under NFKC
    assert len(unicodedata.normalize("NFKC", name)) > NAME_NFKC_MAX_LENGTH
    assert unfit_name(name) is not None
    with pytest.raises(ValidationError) as refused:
        CustomerCheckIn().load({"name": name})
    assert "name" in refused.value.messages


def test_a_name_that_grows_within_the_limit_is_accepted() -> None:
    name = "\ufdfa" * 20 + "贸易"  # 362 characters under NFKC
    assert unfit_name(name) is None
    assert CustomerCheckIn().load({"name": name})["name"] == name
    assert customer_keys(name, None, None)[0][0] == "name"


@pytest.mark.parametrize("name", [HELD, "Acme Trading Co., Ltd.", "杭州⻄湖科技", "Café\u200b"])
def test_ordinary_and_disguised_names_are_fit(name: str) -> None:
    assert unfit_name(name) is None
