"""The GB/T 2260 region dictionary (行政区划): names, hierarchy and address resolution,
and the region look-ups the service answers (``list_regions``, ``region_names``,
``resolve_address``; no database).

The data is ``data/regions.csv`` (built by ``data/build_regions.py``; see ``data/README.md``),
loaded once per process by :func:`load_regions`. Code-shape rules that need no data (levels,
covering, ancestors) live in :mod:`services.common.regions`.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple, TypedDict, cast

from services.common.errors import NotFound
from services.common.regions import (
    ADDRESS_RESOLVE_MAX,
    CITY,
    DISTRICT,
    PROVINCE,
    RegionLevel,
    is_region_code,
)

_LEVELS: tuple[RegionLevel, ...] = (PROVINCE, CITY, DISTRICT)

# Suffixes dropped to form the short name people write ("浙江" for 浙江省), longest first;
# only the first one whose removal leaves two or more characters is dropped.
_SUFFIXES: dict[RegionLevel, tuple[str, ...]] = {
    PROVINCE: ("特别行政区", "自治区", "省", "市"),
    CITY: ("自治州", "地区", "盟", "市"),
    DISTRICT: ("自治县", "自治旗", "特区", "新区", "区", "县", "市", "旗"),
}
# Short names no suffix rule gives (万柏林区 and 碑林区 are 区 whose names end in 林).
_SPECIAL_SHORT_NAMES = {"神农架林区": "神农架"}
# Ethnic groups named in autonomous units (广西壮族自治区, 恩施土家族苗族自治州, ...).
_ETHNIC_GROUPS = (
    "维吾尔",
    "哈萨克",
    "柯尔克孜",
    "蒙古",
    "土家",
    "布依",
    "朝鲜",
    "哈尼",
    "傈僳",
    "纳西",
    "景颇",
    "拉祜",
    "仡佬",
    "仫佬",
    "毛南",
    "撒拉",
    "保安",
    "东乡",
    "裕固",
    "锡伯",
    "达斡尔",
    "鄂温克",
    "鄂伦春",
    "赫哲",
    "塔吉克",
    "阿昌",
    "德昂",
    "独龙",
    "普米",
    "布朗",
    "基诺",
    "门巴",
    "珞巴",
    "俄罗斯",
    "乌孜别克",
    "塔塔尔",
    "高山",
    "壮",
    "回",
    "藏",
    "苗",
    "侗",
    "彝",
    "白",
    "傣",
    "羌",
    "佤",
    "瑶",
    "黎",
    "畲",
    "满",
    "水",
    "土",
    "怒",
    "京",
)
_ETHNIC_SUFFIX = re.compile(
    "(?:"
    + "|".join(f"{g}族" for g in _ETHNIC_GROUPS)
    + "|"
    + "|".join(g for g in _ETHNIC_GROUPS if len(g) > 1)
    + "|各族)$"
)
# A short name right before one of these is a street ("中山路", "南京东路"), not a region.
_STREET_AFTER = re.compile(r"[东西南北中]?(?:路|街|道|巷|弄|胡同)|大道|大街")
_SPACES = re.compile(r"\s+")
_MIN_ALIAS = 2


@dataclass(frozen=True, slots=True)
class Region:
    """One entry of the dictionary. ``parent`` is ``None`` for provinces."""

    code: str
    name: str
    level: RegionLevel
    parent: str | None


class ResolvedRegions(TypedDict):
    """Region codes found in an address; ``None`` where a level was not found or ambiguous."""

    province: str | None
    city: str | None
    district: str | None


class _Alias(NamedTuple):
    codes: tuple[str, ...]
    short_only: bool  # True when no region has this as its full name


class _Token(NamedTuple):
    start: int
    end: int
    codes: frozenset[str]


def short_name(name: str, level: RegionLevel) -> str | None:
    """Return the everyday short form of a region name, or ``None`` when there is none.

    Drops the level suffix and, for autonomous units, the ethnic groups before it:
    ``浙江省`` -> ``浙江``, ``广西壮族自治区`` -> ``广西``, ``恩施土家族苗族自治州`` -> ``恩施``,
    ``浦东新区`` -> ``浦东``. Forms shorter than two characters (``和县`` -> ``和``) are not
    returned, since they would match almost any text; when dropping a longer suffix leaves
    less than that, the next one is tried (``清新区`` -> ``清新``, not ``清``).
    """
    if name in _SPECIAL_SHORT_NAMES:
        return _SPECIAL_SHORT_NAMES[name]
    for suffix in _SUFFIXES[level]:
        if not name.endswith(suffix):
            continue
        base = name[: -len(suffix)]
        if suffix.startswith("自治"):
            while (match := _ETHNIC_SUFFIX.search(base)) and match.start() >= _MIN_ALIAS:
                base = base[: match.start()]
            if base.endswith("族") and base[:-1] in _ETHNIC_GROUPS:
                base = base[:-1]  # 鄂温克族自治旗 -> 鄂温克, 东乡族自治县 -> 东乡
        if len(base) >= _MIN_ALIAS:
            return base
    return None


class RegionDictionary:
    """Read-only dictionary of provinces, prefecture-level cities and county-level districts.

    Built once (see :func:`load_regions`) with its name indexes precomputed; every method is a
    lookup and safe to share between green threads.
    """

    def __init__(self, regions: Iterable[Region]) -> None:
        self._by_code: dict[str, Region] = {}
        for region in regions:
            if region.code in self._by_code:
                raise ValueError(f"duplicate region code {region.code}")
            self._by_code[region.code] = region
        children: dict[str | None, list[Region]] = {}
        for region in sorted(self._by_code.values(), key=lambda r: r.code):
            if region.parent is not None and region.parent not in self._by_code:
                raise ValueError(f"region {region.code} has unknown parent {region.parent}")
            children.setdefault(region.parent, []).append(region)
        self._children = {key: tuple(value) for key, value in children.items()}
        self._chains = {code: self._chain(code) for code in self._by_code}
        self._ancestors = {
            code: tuple(c for c in chain.values() if c != code)
            for code, chain in self._chains.items()
        }
        self._aliases = self._build_aliases()
        self._alias_lengths: dict[str, tuple[int, ...]] = {}
        for alias in self._aliases:
            lengths = set(self._alias_lengths.get(alias[0], ())) | {len(alias)}
            self._alias_lengths[alias[0]] = tuple(sorted(lengths, reverse=True))

    @classmethod
    def from_csv(cls, text: str) -> RegionDictionary:
        """Build a dictionary from CSV text with the columns ``code,name,level,parent``."""
        regions = []
        for row in csv.DictReader(io.StringIO(text)):
            code, level = row["code"].strip(), row["level"].strip()
            if not is_region_code(code) or level not in _LEVELS:
                raise ValueError(f"bad region row: {row}")
            parent = row["parent"].strip() or None
            regions.append(Region(code, row["name"].strip(), cast(RegionLevel, level), parent))
        return cls(regions)

    # -- lookups -------------------------------------------------------------------------

    def get(self, code: str) -> Region | None:
        """Return the region with this code, or ``None`` when there is none."""
        return self._by_code.get(code)

    def exists(self, code: str) -> bool:
        """Tell whether ``code`` is in the dictionary."""
        return code in self._by_code

    def children(self, parent_code: str | None = None) -> list[Region]:
        """Return the regions directly below ``parent_code``, sorted by code.

        ``None`` gives the provinces. An unknown code, or a region without children (a
        district, or a city such as 东莞市 441900), gives an empty list.
        """
        return list(self._children.get(parent_code, ()))

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Region]:
        return iter(self._by_code.values())

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    # -- address resolution -------------------------------------------------------------

    def resolve(self, address: str) -> ResolvedRegions:
        """Find the province, city and district named in a free-text Chinese address.

        Full names (``浙江省杭州市西湖区``) and short ones (``浙江杭州西湖``, ``北京朝阳区``,
        ``广西南宁``) are recognised, read left to right, longest name first. Among the
        regions named, the one best supported by a consistent chain of names in
        province -> city -> district order wins (most names, then most characters, then the
        earliest); its missing parents are filled in (``西湖区`` found under ``杭州市`` also
        gives ``浙江省``). A name shared by regions of different levels means the larger one
        (``吉林`` is the province, ``河南`` the province, not 河南县). A name shared by regions
        of the same level (``西湖区`` is in 杭州 and in 南昌) counts only where an earlier
        province or city singles one out; otherwise only the levels on which all candidates
        agree are returned (``江苏省鼓楼区`` gives just 江苏省). A short name followed by
        路/街/道/... is taken for a street, not a region. A province with a single city
        (北京, 天津, 上海) also yields that city. Reads the first ``ADDRESS_RESOLVE_MAX``
        characters, where region names stand. Never raises; unknown text gives all ``None``.
        """
        result: ResolvedRegions = {"province": None, "city": None, "district": None}
        # The callers refuse longer addresses; reading no more keeps any caller's cost bounded
        # (NFKC may lengthen a text, hence the second cut).
        head = (address or "")[:ADDRESS_RESOLVE_MAX]
        text = _SPACES.sub("", unicodedata.normalize("NFKC", head))[:ADDRESS_RESOLVE_MAX]
        tokens = self._tokens(text)
        if not tokens:
            return result
        scores = self._scores(tokens)
        best_score = max(scores.values())
        best = [code for code, score in scores.items() if score == best_score]
        chains = [self._chains[code] for code in best]
        for level in _LEVELS:
            values = {chain.get(level) for chain in chains}
            if len(values) != 1:
                break
            result[level] = values.pop()
        province, city = result["province"], result["city"]
        if province is not None and city is None:
            cities = self._children.get(province, ())
            if len(cities) == 1:
                result["city"] = cities[0].code
        return result

    def _chain(self, code: str) -> dict[RegionLevel, str]:
        chain: dict[RegionLevel, str] = {}
        region: Region | None = self._by_code[code]
        while region is not None:
            chain[region.level] = region.code
            region = self._by_code.get(region.parent) if region.parent else None
        return chain

    def _build_aliases(self) -> dict[str, _Alias]:
        full: dict[str, list[str]] = {}
        short: dict[str, list[str]] = {}
        for region in self._by_code.values():
            if not self._is_named_place(region):
                continue
            full.setdefault(region.name, []).append(region.code)
            abbreviated = short_name(region.name, region.level)
            if abbreviated:
                short.setdefault(abbreviated, []).append(region.code)
        aliases: dict[str, _Alias] = {}
        for alias in full.keys() | short.keys():
            codes = dict.fromkeys(full.get(alias, []) + short.get(alias, []))
            aliases[alias] = _Alias(tuple(codes), alias not in full)
        return aliases

    def _is_named_place(self, region: Region) -> bool:
        """False for grouping entries nobody writes in an address (北京市's 市辖区 city row,
        重庆市辖县, 省直辖县级行政区划)."""
        if region.level != CITY or region.parent is None:
            return True
        province = self._by_code[region.parent]
        return not (
            region.name.startswith(province.name) or region.name.endswith("直辖县级行政区划")
        )

    def _tokens(self, text: str) -> list[_Token]:
        """Split ``text`` into region-name matches, longest match first, left to right."""
        tokens: list[_Token] = []
        i, n = 0, len(text)
        while i < n:
            for length in self._alias_lengths.get(text[i], ()):
                end = i + length
                alias = self._aliases.get(text[i:end]) if end <= n else None
                if alias is None:
                    continue
                if alias.short_only and _STREET_AFTER.match(text, end):
                    continue
                tokens.append(_Token(i, end, frozenset(alias.codes)))
                i = end
                break
            else:
                i += 1
        return tokens

    def _scores(self, tokens: list[_Token]) -> dict[str, tuple[int, int, int, int]]:
        """Score how well the tokens name each region they name, higher is better: (names of
        its chain found in order, their characters, minus the index of the token naming the
        region, minus its depth). The last part makes a bare name that a province or city
        shares with a smaller place (河南省 / 河南县, 吉林省 / 吉林市) mean the larger one.

        One pass, left to right: ``ending[code]`` is the best (names, characters) of a chain
        named in order that ends with ``code`` before the current token, so a region's best
        chain extends the best chain of one of its ancestors. Each token costs its regions
        times their depth, whatever was named before it."""
        ending: dict[str, tuple[int, int]] = {}
        scores: dict[str, tuple[int, int, int, int]] = {}
        for index, token in enumerate(tokens):
            size = token.end - token.start
            # Read every region of the token before recording any: 吉林 names the province
            # and its city, and stands for only one of them in a chain.
            found = {
                code: max((ending.get(a, (0, 0)) for a in self._ancestors[code]), default=(0, 0))
                for code in token.codes
            }
            for code, (count, chars) in found.items():
                chain = (count + 1, chars + size)
                score = (*chain, -index, -len(self._chains[code]))
                if code not in scores or score > scores[code]:
                    scores[code] = score
                if chain > ending.get(code, (0, 0)):
                    ending[code] = chain
        return scores


@functools.cache
def load_regions() -> RegionDictionary:
    """Return the dictionary built from the packaged ``data/regions.csv`` (loaded once)."""
    source = resources.files(__package__ or "services.partners").joinpath("data/regions.csv")
    return RegionDictionary.from_csv(source.read_text(encoding="utf-8"))


# -- look-ups ---------------------------------------------------------------------------


def list_regions(parent: str | None) -> list[dict]:
    """The regions directly below ``parent`` (the provinces for None); NotFound for a code
    not in the dictionary."""
    dictionary = load_regions()
    if parent is not None and not dictionary.exists(parent):
        raise NotFound(f"region {parent} not found")
    return [
        {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent or None}
        for r in dictionary.children(parent)
    ]


def region_names(codes: list[str]) -> dict[str, str]:
    """The names of the regions among ``codes`` (codes not in the dictionary are left out)."""
    dictionary = load_regions()
    return {code: region.name for code in codes if (region := dictionary.get(code)) is not None}


def resolve_address(address: str) -> ResolvedRegions:
    """The province, city and district named in ``address`` (``RegionDictionary.resolve``)."""
    return load_regions().resolve(address)
