"""The duplicate check (撞单) against a name dressed up to look like one already held.

The attack: partner A holds "杭州西湖科技有限公司" (approved by HQ); partner B, covering the
same region, files "杭州西湖\u200b科技有限公司", which looks the same and was another key:
the check said no conflict and the filing got 201, so two partners protected one company.
Every invisible character of the issue, and a Latin name spelt with Cyrillic letters, must
now be a conflict, in the check and in the filing, without B learning who holds it.

The same for keyed fields written with code points the rules once did not fold: a CJK
radical drawn like a Han character (U+2EC4 ⻄ for 西) was dropped from the name key; a held
mobile number in Arabic-Indic digits was a phone key of its own; a USCC in such digits was
a 500. Names with private-use or unassigned code points, or that grow past the limit under
NFKC, are refused with 422.

A name that is only close ("杭州西湖新科技") still goes to approval: HQ's approver sees the
customer it is close to and why; B's every view of its own filing shows no trace of it.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.client import Client, unique
from tests.support.fake_data import mobile
from tests.support.world import World

CUSTOMERS = "/api/v1/customers"
CHECK = "/api/v1/customers/check"
FILINGS = "/api/v1/filings"
HELD_NAME = "杭州西湖科技有限公司"
INVISIBLES = {
    "zero width space": "\u200b",
    "zero width non-joiner": "\u200c",
    "zero width joiner": "\u200d",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "combining grapheme joiner": "\u034f",
    "variation selector": "\ufe00",
    "hangul filler": "\u3164",
    "right-to-left mark": "\u200f",
}
CYRILLIC = str.maketrans("AaCcEeOoPpTx", "АаСсЕеОоРрТх")
#: CJK Radicals Supplement code points and the Han character each is drawn like.
RADICALS = {"\u2ec4": "西", "\u2ef0": "龙", "\u2ed4": "门", "\u2ee2": "马", "\u2ee9": "黄"}
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def body(name: str) -> dict:
    # A phone of its own each time: only the name may make the conflict.
    return {"name": name, "contact_name": "李", "phone": mobile(), "region_code": "330106"}


@pytest.fixture(scope="module")
def rivals(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    a = world.partner(["330100"])
    b = world.partner(["330000"], type_="provincial_agent")
    holder = world.partner_user(a["id"])
    approver = world.login(world.user(None, ["channel_manager"]))
    latin_name = f"Acme Trading {unique()} Co., Ltd."
    held = []
    for name in (HELD_NAME, latin_name, "杭州龙门马黄贸易有限公司"):
        filed = holder.post(CUSTOMERS, body(name))
        assert filed.status_code == 201, filed.text
        approved = approver.post(f"{FILINGS}/{filed.json()['filing']['id']}/approve", {})
        assert approved.status_code == 200, approved.text
        held.append(filed.json())
    return {
        "a": a,
        "b": world.partner_user(b["id"]),
        "held": held,
        "latin_name": latin_name,
        "approver": approver,
    }


def assert_conflict_without_telling_who(rivals: dict, name: str) -> None:
    checked = rivals["b"].post(CHECK, {"name": name})
    assert checked.status_code == 200, checked.text
    assert checked.json() == {"conflict": True}, ascii(name)
    filed = rivals["b"].post(CUSTOMERS, body(name))
    assert filed.status_code == 409, (ascii(name), filed.text)
    assert filed.json()["code"] == "filing_conflict"
    assert_tells_nothing(filed, rivals)


def assert_tells_nothing(response: requests.Response, rivals: dict) -> None:
    problem = response.json()
    assert "errors" not in problem and "customer_id" not in response.text
    for secret in (rivals["a"]["name"], rivals["a"]["code"], HELD_NAME, rivals["latin_name"]):
        assert secret not in response.text


@pytest.mark.parametrize("invisible", INVISIBLES.values(), ids=INVISIBLES.keys())
def test_a_held_chinese_name_with_an_invisible_character_is_a_conflict(
    rivals: dict, invisible: str
) -> None:
    assert_conflict_without_telling_who(rivals, f"杭州西湖{invisible}科技有限公司")


def test_a_held_chinese_name_with_every_invisible_character_at_once_is_a_conflict(
    rivals: dict,
) -> None:
    disguised = "".join(
        ch + invisible for ch, invisible in zip(HELD_NAME, INVISIBLES.values(), strict=True)
    )
    assert_conflict_without_telling_who(rivals, disguised)


def test_a_held_latin_name_spelt_with_cyrillic_look_alikes_is_a_conflict(rivals: dict) -> None:
    stem, _, tail = rivals["latin_name"].partition(" Co.")
    words = stem.split(" ")
    disguised = " ".join([*(w.translate(CYRILLIC) for w in words[:2]), *words[2:]]) + " Co." + tail
    assert disguised != rivals["latin_name"] and disguised.isascii() is False
    assert_conflict_without_telling_who(rivals, disguised)


def test_a_near_name_goes_to_approval_and_only_the_approver_learns_what_it_is_close_to(
    rivals: dict,
) -> None:
    filed = rivals["b"].post(CUSTOMERS, body("杭州西湖新科技有限公司"))
    assert filed.status_code == 201, filed.text
    customer = filed.json()
    filing_id = customer["filing"]["id"]

    seen = rivals["approver"].get(f"{FILINGS}/{filing_id}")
    assert seen.status_code == 200, seen.text
    [match] = [m for m in seen.json()["near_matches"] if m["customer_name"] == HELD_NAME]
    assert match["customer_id"] == rivals["held"][0]["id"]
    assert match["partner_id"] == rivals["a"]["id"]
    assert match["reason"].startswith("名称相似度 0.9")

    b = rivals["b"]
    views = [
        filed,
        b.get(f"{FILINGS}/{filing_id}"),
        b.get(FILINGS, params={"per_page": 100}),
        b.get(f"{CUSTOMERS}/{customer['id']}"),
        b.get(CUSTOMERS, params={"per_page": 100}),
    ]
    for view in views:
        assert view.status_code in (200, 201), view.text
        assert "near_matches" not in view.text and "名称相似度" not in view.text
        for secret in (rivals["a"]["name"], rivals["a"]["code"], HELD_NAME):
            assert secret not in view.text
        ids = ids_in(view.json())
        assert rivals["a"]["id"] not in ids["partner"]
        assert rivals["held"][0]["id"] not in ids["customer"]


def ids_in(found: Any) -> dict[str, set[int]]:
    """The partner and customer ids anywhere in an answer."""
    ids: dict[str, set[int]] = {"partner": set(), "customer": set()}
    stack = [found]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key in ("partner_id", "owner_partner_id"):
                    ids["partner"].add(value)
                elif key == "customer_id":
                    ids["customer"].add(value)
                else:
                    stack.append(value)
    return ids


@pytest.mark.parametrize("radical", sorted(RADICALS))
def test_a_held_name_with_a_cjk_radical_for_its_han_character_is_a_conflict(
    rivals: dict, radical: str
) -> None:
    held = next(c["name"] for c in rivals["held"] if RADICALS[radical] in c["name"])
    assert_conflict_without_telling_who(rivals, held.replace(RADICALS[radical], radical, 1))


def test_a_held_phone_in_arabic_indic_digits_is_a_conflict(rivals: dict) -> None:
    phone = rivals["held"][0]["phone"]
    disguised = phone[:3] + phone[3:].translate(ARABIC_INDIC)
    filed = rivals["b"].post(CUSTOMERS, body("另一个名字贸易有限公司") | {"phone": disguised})
    assert filed.status_code == 409, filed.text
    assert filed.json()["code"] == "filing_conflict"
    assert_tells_nothing(filed, rivals)


def test_a_phone_in_other_digits_is_stored_in_ascii_digits(rivals: dict) -> None:
    phone = mobile()
    filed = rivals["b"].post(
        CUSTOMERS, body(f"阿拉伯数字{unique()}贸易") | {"phone": phone.translate(ARABIC_INDIC)}
    )
    assert filed.status_code == 201, filed.text
    assert filed.json()["phone"] == phone


def test_a_uscc_in_arabic_indic_digits_is_invalid_input(rivals: dict) -> None:
    uscc = "91" + "330106".translate(ARABIC_INDIC) + "MA27XXXX1X"
    checked = rivals["b"].post(CHECK, {"name": "某某科技有限公司", "uscc": uscc})
    assert checked.status_code == 422, checked.text
    assert checked.json()["code"] == "invalid_input"
    filed = rivals["b"].post(CUSTOMERS, body("某某科技有限公司") | {"uscc": uscc})
    assert filed.status_code == 422, filed.text
    assert filed.json()["code"] == "invalid_input"


@pytest.mark.parametrize(
    "name",
    ["杭州西湖\ue000科技有限公司", "杭州西湖\u0378科技有限公司", "\ufdfa" * 200],
    ids=["private use", "unassigned", "grows past 400 under NFKC"],
)
def test_a_name_the_rule_cannot_key_is_invalid_input(rivals: dict, name: str) -> None:
    for path, payload in ((CHECK, {"name": name}), (CUSTOMERS, body(name))):
        refused = rivals["b"].post(path, payload)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_input"
