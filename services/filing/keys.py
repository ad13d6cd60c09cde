"""Duplicate-check keys of a customer (查重): normalised name, USCC and mobile phone.

Pure functions: the same customer written in different ways gives the same keys.
"""

from __future__ import annotations

import re
import unicodedata

# Chinese legal-form suffixes, longest first so that 股份有限公司 goes whole.
LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "责任公司", "公司")
# English legal forms, removed only as whole trailing words ("Pacific Zinc" keeps its "inc").
_ENGLISH_SUFFIX = re.compile(
    r"(?:[\s,.&]+(?:co[\s.,]*ltd|company\s+limited|limited|ltd|inc|incorporated|corp|"
    r"corporation|company|co|llc|plc|gmbh))+[\s.,]*$"
)

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalise_name(name: str) -> str:
    """NFKC, case-folded, without white space, punctuation or legal-form suffixes.

    ``杭州西湖（科技）有限公司`` and ``杭州西湖(科技) 有限公司`` give ``杭州西湖科技``;
    ``Acme Trading Co., Ltd.`` gives ``acmetrading``.
    """
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    text = _ENGLISH_SUFFIX.sub("", text)
    text = "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch)[0] in "PSZ"))
    for suffix in LEGAL_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    return text


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def normalise_uscc(value: str) -> str | None:
    """The USCC in upper case if it is well formed and its check character is right
    (GB 32100-2015); None otherwise."""
    code = unicodedata.normalize("NFKC", value).strip().upper()
    if not _USCC_SHAPE.match(code):
        return None
    return code if uscc_check_char(code[:17]) == code[17] else None


def normalise_mobile(value: str) -> str | None:
    """An 11-digit mainland mobile number without +86, spaces or dashes; None if not one."""
    digits = re.sub(r"[\s()-]", "", unicodedata.normalize("NFKC", value))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits if _MOBILE.match(digits) else None


def customer_keys(name: str, uscc: str | None, phone: str | None) -> list[tuple[str, str]]:
    """The keys under which a customer blocks others: (kind, value) pairs."""
    keys = [("name", normalise_name(name))]
    if uscc:
        keys.append(("uscc", uscc))
    if phone:
        keys.append(("phone", phone))
    return [(kind, value) for kind, value in keys if value]
