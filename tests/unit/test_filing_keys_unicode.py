"""Name keys against names dressed up to look the same: invisible code points, look-alike
letters of another script, full-width forms. Real company names, random disguises."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata

import pytest
import regex
from confusable_homoglyphs.confusables import confusables_data
from hypothesis import given, settings
from hypothesis import strategies as st

from services.filing.keys import customer_keys, normalise_name

REAL_NAMES = [
    "杭州西湖科技有限公司",
    "阿里巴巴（中国）有限公司",
    "腾讯科技（深圳）有限公司",
    "华为技术有限公司",
    "小米科技有限责任公司",
    "杭州娃哈哈集团有限公司",
    "北京字节跳动科技有限公司",
    "比亚迪股份有限公司",
    "上海浦东发展银行股份有限公司",
    "宁波舟山港股份有限公司",
    "Acme Trading Co., Ltd.",
    "Pacific Zinc Inc",
    "Global Logistics Limited",
    "Siemens Healthineers GmbH",
    "Café Noir Corporation",
]

# The characters of the issue, and the other kinds of invisible code points.
ISSUE_INVISIBLES = [
    "\u200b",  # zero width space
    "\u200c",  # zero width non-joiner
    "\u200d",  # zero width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero width no-break space (BOM)
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner
    "\ufe00",  # variation selector-1
    "\u3164",  # Hangul filler
    "\u200f",  # right-to-left mark
]
OTHER_INVISIBLES = [
    "\u200e",  # left-to-right mark
    "\u202a",  # left-to-right embedding
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u2069",  # pop directional isolate
    "\u061c",  # Arabic letter mark
    "\u115f",  # Hangul choseong filler
    "\u1160",  # Hangul jungseong filler
    "\uffa0",  # half-width Hangul filler
    "\u180e",  # Mongolian vowel separator
    "\u2061",  # function application
    "\u2064",  # invisible plus
    "\ufe0f",  # variation selector-16
    "\U000e0100",  # variation selector-17
    "\U000e01ef",  # variation selector-256
    "\U000e0041",  # tag latin capital letter A
    "\U0001d173",  # musical symbol begin beam
    "\u20dd",  # combining enclosing circle (Me)
    "\u0301",  # combining acute accent (Mn)
    "\x01",  # a control character
]

#: Python's Unicode tables (14.0 on 3.11) are older than the ``regex`` module's, which the
#: keys use; a few marks changed category since (U+1171E AHOM CONSONANT SIGN MEDIAL RA is Mn
#: in 14.0, a visible spacing mark, Mc, since 15.0). Only what both call invisible is drawn.
_INVISIBLE_NOW = regex.compile(r"[\p{Cf}\p{Mn}\p{Me}]")

invisible = st.one_of(
    st.sampled_from(ISSUE_INVISIBLES + OTHER_INVISIBLES),
    st.characters(categories=["Cf", "Mn", "Me"]).filter(lambda ch: _INVISIBLE_NOW.match(ch)),
)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(REAL_NAMES),
    insertions=st.lists(st.tuples(st.integers(min_value=0), invisible), min_size=1, max_size=8),
)
def test_invisible_code_points_anywhere_in_a_real_name_give_the_same_keys(
    name: str, insertions: list[tuple[int, str]]
) -> None:
    disguised = name
    for position, ch in insertions:
        at = position % (len(disguised) + 1)
        disguised = disguised[:at] + ch + disguised[at:]
    assert customer_keys(disguised, None, None) == customer_keys(name, None, None)


@pytest.mark.parametrize("ch", ISSUE_INVISIBLES + OTHER_INVISIBLES)
def test_each_invisible_of_the_issue_is_removed_inside_a_chinese_name(ch: str) -> None:
    assert normalise_name(f"杭州西湖{ch}科技有限公司") == normalise_name("杭州西湖科技有限公司")


def _lowercase_look_alikes(letter: str) -> list[str]:
    """Letters the Unicode confusables data gives for ``letter`` that case folding leaves
    alone (an upper-case "I" for "l" is a matter of case, not of script)."""
    return [
        entry["c"]
        for entry in confusables_data.get(letter, [])
        if len(entry["c"]) == 1
        and unicodedata.category(entry["c"]).startswith("L")
        and entry["c"].casefold() == entry["c"]
        and entry["c"] != letter
    ]


LATIN_NAMES = [n.casefold() for n in REAL_NAMES if n.isascii()]


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(LATIN_NAMES), data=st.data())
def test_look_alike_letters_of_other_scripts_fold_to_the_same_keys(name: str, data) -> None:
    disguised = "".join(
        data.draw(st.sampled_from([ch, *_lowercase_look_alikes(ch)])) if ch.isalpha() else ch
        for ch in name
    )
    assert normalise_name(disguised) == normalise_name(name)


@pytest.mark.parametrize(
    ("disguised", "real"),
    [
        ("Асmе Trading Co., Ltd.", "Acme Trading Co., Ltd."),  # Cyrillic А с е
        ("Αcme Τrading", "Acme Trading"),  # Greek Alpha, Tau
        ("Pacific Ζinc Inc", "Pacific Zinc"),  # Greek Zeta
        ("Acme Trading Cо., Ltd.", "Acme Trading"),  # a Cyrillic о hides the suffix
        ("ＡＣＭＥ　Ｔｒａｄｉｎｇ", "Acme Trading"),  # full width
        ("𝐀𝐜𝐦𝐞 Trading", "Acme Trading"),  # mathematical bold
        ("G|obal Logistics", "Global Logistics"),
        ("Café Noir", "Cafe Noir"),
        ("Cafe\u0301 Noir", "Café Noir"),
        ("杭州ロ福餐饮有限公司", "杭州口福餐饮有限公司"),  # katakana ロ for 口
        ("杭州エ艺品有限公司", "杭州工艺品有限公司"),  # katakana エ for 工
        ("杭州\uf9f4业有限公司", "杭州林业有限公司"),  # CJK compatibility ideograph of 林
    ],
)
def test_look_alikes_give_the_name_key_of_the_real_name(disguised: str, real: str) -> None:
    assert normalise_name(disguised) == normalise_name(real)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("杭州口福餐饮有限公司", "杭州囗福餐饮有限公司"),  # 口 mouth, 囗 enclosure
        ("杭州士林贸易有限公司", "杭州土林贸易有限公司"),  # 士 scholar, 土 earth
        ("杭州黄鹂文化传媒有限公司", "杭州黄鹃文化传媒有限公司"),  # oriole, cuckoo
        ("上海已知信息技术有限公司", "上海己知信息技术有限公司"),
        ("杭州天元科技有限公司", "杭州夭元科技有限公司"),
        ("杭州西湖科技有限公司", "杭州西溪科技有限公司"),
        ("杭州柿子食品有限公司", "杭州杮子食品有限公司"),
    ],
)
def test_different_chinese_characters_are_never_folded_into_each_other(
    one: str, other: str
) -> None:
    assert normalise_name(one) != normalise_name(other)


def test_no_common_chinese_character_is_folded_or_dropped() -> None:
    kept = [chr(cp) for cp in range(0x4E00, 0xA000) if unicodedata.category(chr(cp)) == "Lo"]
    changed = [ch for ch in kept if normalise_name(f"杭{ch}杭") != f"杭{ch}杭"]
    assert changed == []


def test_a_name_of_only_invisible_code_points_has_no_name_key() -> None:
    assert customer_keys("\u200b\u200c\u3164", None, None) == []


def test_a_name_that_grows_under_normalisation_still_has_a_key_that_fits_its_column() -> None:
    # U+FDFA is one code point and 18 letters after NFKC.
    longest = "\ufdfa" * 200
    [(kind, value)] = customer_keys(longest, None, None)
    assert kind == "name" and len(value) <= 200
    assert customer_keys(longest, None, None) != customer_keys("\ufdfa" * 199, None, None)


def test_every_process_computes_the_same_keys() -> None:
    # The look-alike table is built from sets; str hashing differs between processes.
    script = (
        "from services.filing.keys import normalise_name;"
        f"print(ascii([normalise_name(n) for n in {REAL_NAMES!r}]))"
    )
    answers = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(answers) == 1
