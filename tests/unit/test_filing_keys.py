"""Duplicate-check keys (查重): the same customer written in different ways gives one key."""

from __future__ import annotations

import pytest

from services.filing.keys import (
    customer_keys,
    normalise_mobile,
    normalise_name,
    normalise_uscc,
    uscc_check_char,
)

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc(body17: str) -> str:
    return body17 + uscc_check_char(body17)


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "杭州西湖科技有限公司",
        "杭州西湖（科技）有限公司",
        "杭州西湖(科技) 有限公司",
        "杭州西湖科技股份有限公司",
        "杭州西湖科技有限责任公司",
        " 杭州 西湖　科技 ",
        "杭州西湖科技",
    ],
)
def test_company_written_with_brackets_spaces_or_legal_suffix_gives_one_name_key(
    written: str,
) -> None:
    assert normalise_name(written) == "杭州西湖科技"


def test_full_width_letters_and_case_are_folded() -> None:
    assert normalise_name("ＡＢＣ Ｔｅｃｈ 有限公司") == normalise_name("abc tech")
    assert normalise_name("ABC Tech Co., Ltd.") == normalise_name("abc tech")


def test_punctuation_inside_the_name_does_not_tell_companies_apart() -> None:
    assert normalise_name("杭州·西湖-科技, 有限公司") == normalise_name("杭州西湖科技")


def test_different_companies_keep_different_name_keys() -> None:
    assert normalise_name("杭州西湖科技有限公司") != normalise_name("杭州滨江科技有限公司")


def test_a_name_that_is_only_a_legal_suffix_is_not_emptied() -> None:
    assert normalise_name("有限公司") != ""


def test_group_company_with_and_without_its_legal_suffix_gives_one_key() -> None:
    assert normalise_name("杭州娃哈哈集团有限公司") == normalise_name("杭州娃哈哈集团")


def test_english_name_ending_in_suffix_letters_is_not_cut() -> None:
    assert normalise_name("Pacific Zinc") != normalise_name("Pacific Z")


# -- USCC -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "91110108551385082Q",  # published codes of well-known companies
        "91350100M000100Y43",
        "9144030071526726XG",
    ],
)
def test_real_uscc_with_its_check_character_is_accepted(code: str) -> None:
    assert normalise_uscc(code) == code


def test_uscc_is_upper_cased_and_trimmed() -> None:
    code = uscc("91330106MA2B3C4D5")
    assert normalise_uscc(f"  {code.lower()} ") == code


def test_full_width_uscc_is_accepted() -> None:
    code = uscc("91330106MA2B3C4D5")
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in code)
    assert normalise_uscc(full_width) == code


def test_uscc_with_any_other_check_character_is_refused() -> None:
    body = "91330106MA2B3C4D5"
    right = uscc_check_char(body)
    for wrong in USCC_CHARS:
        if wrong != right:
            assert normalise_uscc(body + wrong) is None, wrong


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91330106MA2B3C4D",  # 16 characters
        "91330106MA2B3C4D5XX",  # 19 characters
        "91330106MA2I3C4D5",  # I is not in the USCC alphabet (17 + check added below)
        "9133A106MA2B3C4D5",  # the region part is six digits
    ],
)
def test_malformed_uscc_is_refused(code: str) -> None:
    candidates = [code]
    if len(code) == 17 and all(ch in USCC_CHARS or ch == "I" for ch in code):
        candidates = [code + ch for ch in USCC_CHARS]
    for candidate in candidates:
        assert normalise_uscc(candidate) is None, candidate


def test_check_character_follows_gb_32100() -> None:
    # C18 = 31 - (sum of value * weight mod 31), 31 written as 0.
    body = "91350100M000100Y4"
    weights = [pow(3, i, 31) for i in range(17)]
    total = sum(USCC_CHARS.index(ch) * w for ch, w in zip(body, weights, strict=True))
    assert uscc_check_char(body) == USCC_CHARS[(31 - total % 31) % 31] == "3"


# -- mobile phones ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "13800138000",
        "+8613800138000",
        "+86 138-0013-8000",
        "0086 138 0013 8000",
        "(+86) 138-0013-8000",
        "１３８００１３８０００",
    ],
)
def test_mobile_written_with_country_code_dashes_or_spaces_gives_eleven_digits(
    written: str,
) -> None:
    assert normalise_mobile(written) == "13800138000"


@pytest.mark.parametrize(
    "written", ["12800138000", "1380013800", "138001380001", "0571-88888888", "abc", ""]
)
def test_what_is_not_a_mainland_mobile_is_refused(written: str) -> None:
    assert normalise_mobile(written) is None


# -- keys -------------------------------------------------------------------------------


def test_customer_keys_are_name_uscc_and_phone() -> None:
    code = uscc("91330106MA2B3C4D5")
    assert customer_keys("杭州西湖（科技）有限公司", code, "13800138000") == [
        ("name", "杭州西湖科技"),
        ("uscc", code),
        ("phone", "13800138000"),
    ]


def test_customer_without_uscc_or_phone_is_kept_under_its_name_only() -> None:
    assert customer_keys("杭州西湖科技有限公司", None, None) == [("name", "杭州西湖科技")]
