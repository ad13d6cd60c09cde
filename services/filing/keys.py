"""Duplicate-check keys of a customer (查重): normalised name, USCC and mobile phone.

Pure functions: the same customer written in different ways gives the same keys, and so
does a name dressed up to look the same while being other code points (invisible
characters, look-alike letters of another script, full-width forms).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache

import regex

#: The length of ``customer_keys.value``.
KEY_MAX_LENGTH = 200
# Chinese legal-form suffixes, longest first so that 股份有限公司 goes whole.
LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "责任公司", "公司")
# English legal forms, removed only as whole trailing words ("Pacific Zinc" keeps its "inc").
# "coltd" is "Co.Ltd" once its dot is gone.
ENGLISH_SUFFIXES = (
    "co",
    "ltd",
    "coltd",
    "company",
    "limited",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "llc",
    "plc",
    "gmbh",
)

# Code points that show nothing or only change how their neighbour is drawn: every
# default-ignorable one (zero-width and bidi marks, variation selectors, Hangul fillers,
# tags, ...), controls, formats, lone surrogates, and combining marks (after NFD, so that
# "Café" and "Cafe" are one name). White space is left for the word split.
_INVISIBLE = regex.compile(
    r"[[\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Cs}\p{Mn}\p{Me}]--\s]+", regex.V1
)
_UNIFIED_IDEOGRAPH = regex.compile(r"\p{Unified_Ideograph}")
_HANGUL = regex.compile(r"\p{Script=Hangul}")
_HAN_OR_HANGUL = regex.compile(r"[\p{Script=Han}\p{Script=Hangul}]")

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$", re.ASCII)
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$", re.ASCII)
_NOT_ALNUM = re.compile(r"[\W_]+")
#: How long a name may become under NFKC: one code point can stand for 18 letters (U+FDFA),
#: and the name rule's work grows with what NFKC gives.
NAME_NFKC_MAX_LENGTH = 400
_UNFIT_IN_A_NAME = regex.compile(r"[\p{Co}\p{Cn}]")
# Symbols that are parts of a character rather than separators: CJK radicals and strokes
# (U+2EC4 ⻄ is drawn as 西), Yi radicals. Kangxi radicals are Han characters after NFKC.
_RADICAL_BLOCKS = ((0x2E80, 0x2EFF), (0x2F00, 0x2FDF), (0x31C0, 0x31EF), (0xA490, 0xA4CF))
# Radicals of the supplement that neither the confusables data, NFKC nor a Kangxi radical
# of the same name fold, each to the unified ideograph Unicode names as its equivalent
# (EquivalentUnifiedIdeograph.txt).
_RADICAL_EQUIVALENTS = {
    "\u2e9f": "母",
    "\u2eb0": "纟",
    "\u2ec6": "角",
    "\u2ee6": "鸟",
    "\u2ee7": "卤",
    "\u2eea": "黾",
    "\u2ef3": "龟",
}


def _separates(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PSZ"


def _prepare(text: str) -> str:
    """NFKC (full-width forms, compatibility ideographs, Kangxi radicals), case folded,
    decomposed, without invisible code points."""
    text = unicodedata.normalize("NFKC", text.translate(_before_nfkc())).casefold()
    return _INVISIBLE.sub("", unicodedata.normalize("NFD", text))


@cache
def _confusables() -> dict[str, list[dict]]:
    """Unicode's confusables.txt as ``confusable-homoglyphs`` ships it: each code point (or
    sequence) with the ones it is confusable with. Loaded on first use: the gateway
    imports this module for the USCC and phone rules only."""
    from confusable_homoglyphs.confusables import confusables_data

    return confusables_data


def _components(graph: dict[str, list[dict]]) -> Iterable[set[str]]:
    seen: set[str] = set()
    for start in graph:
        if start in seen:
            continue
        component, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node not in component:
                component.add(node)
                stack.extend(entry["c"] for entry in graph.get(node, ()))
        seen |= component
        yield component


@cache
def _before_nfkc() -> dict[int, str]:
    """Look-alikes NFKC or case folding would lead astray -> what they look like.

    NFKC turns the lunate sigma ϲ (a "c") into σ (an "o"), and case folding turns the
    Greek capital Ζ into ζ, which looks nothing like z: these are folded first, a capital
    to the Latin capital it looks like (Cyrillic І -> I, as the Latin I folds to i). Han
    radicals and compatibility ideographs are left to NFKC."""
    table: dict[int, str] = {}
    for component in _components(_confusables()):
        target = _representative(component, _confusables())
        capitals = sorted(m for m in component if len(m) == 1 and "A" <= m <= "Z")
        for member in component:
            if len(member) != 1 or member.isascii() or _HAN_OR_HANGUL.match(member):
                continue
            cased = member.casefold() != member
            if not cased and unicodedata.normalize("NFKC", member) == member:
                continue
            wanted = capitals[0] if cased and capitals else target
            if wanted != member:
                table[ord(member)] = wanted
    return table


def _representative(component: set[str], graph: dict[str, list[dict]]) -> str:
    """What every member of a set of look-alikes folds to.

    The data lists each confusable with its UTS #39 prototype (both ways): the prototype
    is the member linked to all others. Han characters are never folded into one another
    (口 and 囗, 土 and 士 are different characters in real names): a set holding Han
    characters folds its other members (katakana ロ, radicals) to its first Han one.
    """
    han = sorted(m for m in component if len(m) == 1 and _UNIFIED_IDEOGRAPH.match(m))
    if han:
        return han[0]
    hubs = [m for m in component if len(graph.get(m, ())) > 1]
    if hubs:
        # One in Unicode's data; should a later one link two, the choice stays the same
        # in every process (set order is not).
        return min(hubs, key=lambda m: (-len(graph[m]), m))
    # A pair: either member serves; prefer the longer (a source is one code point), then
    # ASCII, then the lower code point, so that the choice never depends on dict order.
    return min(component, key=lambda m: (-len(m), not m.isascii(), m))


@cache
def _fold_table() -> dict[str, str]:
    """Prepared code point -> prepared replacement: the UTS #39 skeleton mapping of the
    confusables data that ``confusable-homoglyphs`` ships, after case folding."""
    graph = _confusables()
    table: dict[str, str] = {}
    for component in _components(graph):
        target = _prepare(_representative(component, graph))
        for member in component:
            # A member that NFKC or case folding changes is reached through what it
            # becomes; Han characters stay themselves; Hangul jamo are the parts NFD
            # splits a syllable into, and must come back together.
            if (
                len(member) != 1
                or _prepare(member) != member
                or _UNIFIED_IDEOGRAPH.match(member)
                or _HANGUL.match(member)
            ):
                continue
            if member != target:
                table[member] = target
    table |= _radical_folds(table)
    # The replacement of a replacement (after case folding): one pass then folds fully.
    for _ in range(4):
        changed = False
        for source, target in table.items():
            folded = _prepare("".join(table.get(ch, ch) for ch in target))
            if folded != target:
                table[source], changed = folded, True
        if not changed:
            break
    return table


@cache
def _radicals() -> frozenset[str]:
    return frozenset(
        chr(cp)
        for start, end in _RADICAL_BLOCKS
        for cp in range(start, end + 1)
        if unicodedata.category(chr(cp)) == "So"
    )


def _radical_folds(table: dict[str, str]) -> dict[str, str]:
    """Each radical or stroke the confusables data leaves out -> the character of the
    same name among the Kangxi radicals (CJK RADICAL HORN is KANGXI RADICAL HORN, 角), or
    its listed equivalent; a radical with neither stays itself."""
    folds: dict[str, str] = {}
    for radical in _radicals():
        if radical in table or _prepare(radical) != radical:
            continue
        name = unicodedata.name(radical).removeprefix("CJK RADICAL ")
        try:
            kangxi = unicodedata.lookup(f"KANGXI RADICAL {name}")
        except KeyError:
            kangxi = None
        equivalent = _RADICAL_EQUIVALENTS.get(radical) or kangxi
        if equivalent:
            folds[radical] = _prepare(equivalent)
    return folds


def _words(text: str) -> list[str]:
    """The prepared, folded words of ``text``; separators (space, punctuation,
    symbols) split words and are dropped, unless they are look-alikes of a Latin letter
    or a digit, or radicals and strokes of a character."""
    words: list[str] = []
    word: list[str] = []
    for ch in _prepare(text):
        piece = _piece(ch)
        if piece is None:
            if word:
                words.append(unicodedata.normalize("NFC", "".join(word)))
                word = []
            continue
        word.append(piece)
    if word:
        words.append(unicodedata.normalize("NFC", "".join(word)))
    return words


@lru_cache(maxsize=16_384)
def _piece(ch: str) -> str | None:
    """What the prepared character ``ch`` adds to a word (folded), or None when it
    separates words. Kept per character: a name is folded character by character, and
    names repeat their characters."""
    folded = _fold_table().get(ch, ch)
    if ch in _radicals():
        # Folded to the character it is drawn as, or itself: never a gap in the name.
        return folded
    if _separates(ch):
        # "|" for "l" is a look-alike; "/" folds to the Han stroke 丿 and "—" to 一,
        # which in a name are still a slash and a dash.
        folded = folded if folded.isascii() and folded.isalnum() else " "
    if all(_separates(c) for c in folded):
        return None
    return folded


@cache
def _folded_suffixes() -> tuple[frozenset[str], tuple[str, ...]]:
    english = frozenset("".join(_words(s)) for s in ENGLISH_SUFFIXES)
    chinese = tuple("".join(_words(s)) for s in LEGAL_SUFFIXES)
    return english, chinese


def fold_text(text: str) -> str:
    """``text`` as one comparable string: NFKC, case folded, without invisible code points,
    combining marks, white space, punctuation or symbols, look-alikes folded (UTS #39)."""
    return "".join(_words(text))


def normalise_name(name: str) -> str:
    """The name as ``fold_text`` gives it, without its legal-form suffixes.

    ``杭州西湖（科技）有限公司``, ``杭州西湖(科技) 有限公司`` and ``杭州西湖\\u200b科技有限公司``
    give ``杭州西湖科技``; ``Acme Trading Co., Ltd.`` and ``Асmе Trading`` (Cyrillic А, с, е)
    give ``acrnetrading`` (the skeleton of "m" is "rn").
    """
    english, chinese = _folded_suffixes()
    words = _words(name)
    # Trailing legal-form words only, never the first word: one look at each word.
    while len(words) > 1 and words[-1] in english:
        words.pop()
    text = "".join(words)
    for suffix in chinese:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    return text


def address_form(address: str) -> str:
    """An address as the near-duplicate check compares it: NFKC, case folded, letters
    and digits only (a cheap form: addresses are compared by the thousand)."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", address).casefold())


def unfit_name(name: str) -> str | None:
    """Why ``name`` cannot be filed under the name rule, or None.

    A private-use or unassigned code point has no agreed look nor any look-alike to fold
    it to; a name far longer under NFKC than as written costs the rule per character."""
    if _UNFIT_IN_A_NAME.search(name):
        return "contains a private-use or unassigned code point"
    if len(unicodedata.normalize("NFKC", name)) > NAME_NFKC_MAX_LENGTH:
        return f"longer than {NAME_NFKC_MAX_LENGTH} characters once normalised (NFKC)"
    return None


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of any script (Arabic-Indic ٣, Devanagari ३, ...)
    as its ASCII digit: NFKC folds full-width and mathematical digits only."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch for ch in text
    )


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def normalise_uscc(value: str) -> str | None:
    """The USCC in upper case if it is well formed and its check character is right
    (GB 32100-2015); None otherwise."""
    code = ascii_digits(unicodedata.normalize("NFKC", value)).strip().upper()
    if not _USCC_SHAPE.match(code):
        return None
    return code if uscc_check_char(code[:17]) == code[17] else None


def normalise_mobile(value: str) -> str | None:
    """An 11-digit mainland mobile number in ASCII digits, without +86, spaces or dashes;
    None if not one."""
    digits = re.sub(r"[\s()-]", "", ascii_digits(unicodedata.normalize("NFKC", value)))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits if _MOBILE.match(digits) else None


def phone_form(value: str) -> str:
    """A phone as look-ups compare it: the mobile number as the duplicate check keys it
    (``normalise_mobile``), or for another number its ASCII digits alone."""
    mobile = normalise_mobile(value)
    if mobile is not None:
        return mobile
    return re.sub(r"[^0-9]", "", ascii_digits(unicodedata.normalize("NFKC", value)))


def _storable(key: str) -> str:
    """A key that fits its column: NFKC and look-alike folding can lengthen a name
    (U+FDFA alone becomes 18 letters), so a longer key is kept as its digest."""
    if len(key) <= KEY_MAX_LENGTH:
        return key
    return "#" + hashlib.sha256(key.encode()).hexdigest()


def customer_keys(name: str, uscc: str | None, phone: str | None) -> list[tuple[str, str]]:
    """The keys under which a customer blocks others: (kind, value) pairs."""
    keys = [("name", _storable(normalise_name(name)))]
    if uscc:
        keys.append(("uscc", uscc))
    if phone:
        keys.append(("phone", phone))
    return [(kind, value) for kind, value in keys if value]
