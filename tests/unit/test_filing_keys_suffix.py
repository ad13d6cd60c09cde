"""English legal-form words at the end of a name: removed one word at a time, whatever the
name is made of (a name of many "co ltd" words is as cheap as any other)."""

from __future__ import annotations

import pytest

from services.filing.keys import normalise_name


@pytest.mark.parametrize(
    "written",
    [
        "Acme Trading",
        "Acme Trading Co., Ltd.",
        "Acme Trading Co.,Ltd",
        "Acme Trading Co.Ltd.",
        "Acme Trading Company Limited",
        "Acme Trading Limited",
        "Acme Trading Inc.",
        "Acme Trading, Incorporated",
        "Acme Trading Corp",
        "Acme Trading Corporation",
        "Acme Trading LLC",
        "Acme Trading PLC",
        "Acme Trading GmbH",
        "Acme Trading & Co",
        "Acme Trading Co Ltd Co Ltd",
        "Acme Trading (Co., Ltd.)",
    ],
)
def test_trailing_legal_form_words_are_removed(written: str) -> None:
    assert normalise_name(written) == normalise_name("Acme Trading")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Pacific Zinc", "Pacific Z"),
        ("Coltd Partners", "Partners"),
        ("Limited Edition Ltd", "Edition"),
        ("Acme Trading X", "Acme Trading"),
    ],
)
def test_legal_form_letters_that_are_not_trailing_words_stay(one: str, other: str) -> None:
    assert normalise_name(one) != normalise_name(other)


def test_a_name_that_is_only_a_legal_form_word_keeps_it() -> None:
    assert normalise_name("Ltd") != ""
    assert normalise_name("Co Ltd") != ""


@pytest.mark.parametrize("repeat", [1, 5, 28])
def test_repeated_legal_words_before_another_word_are_kept(repeat: int) -> None:
    name = "杭州" + " co ltd" * repeat + "x"
    assert normalise_name(name) == normalise_name("杭州" + "coltd" * repeat + "x")


@pytest.mark.parametrize("repeat", [1, 5, 28])
def test_repeated_legal_words_at_the_end_all_go(repeat: int) -> None:
    assert normalise_name("杭州" + " co ltd" * repeat) == "杭州"
