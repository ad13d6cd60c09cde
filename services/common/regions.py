"""Pure rules on GB/T 2260 region codes (行政区划代码). No I/O, no dictionary lookups.

A region code is six ASCII digits: ``PPCCDD``. ``PP0000`` is a province-level unit,
``PPCC00`` a prefecture-level city and anything else a county-level district. Everything here
works on the shape of the code alone, so it also holds for the irregular parts of the list:
province-administered county-level units such as ``429004`` (仙桃市) belong by shape to
``429000`` (省直辖县级行政区划) and to ``420000`` (湖北省), which is what covering needs.
Whether a code actually exists is the region dictionary's business
(``services.partners.regions``), not this module's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal, TypeGuard

RegionLevel = Literal["province", "city", "district"]

PROVINCE: RegionLevel = "province"
CITY: RegionLevel = "city"
DISTRICT: RegionLevel = "district"

#: The longest address the region dictionary reads. Region names open an address; the
#: longest real ones (full province, prefecture and county names, then town, village,
#: street and building) run to about 100 characters.
ADDRESS_RESOLVE_MAX = 200

_SPECIFICITY: dict[RegionLevel, int] = {PROVINCE: 1, CITY: 2, DISTRICT: 3}
_CODE = re.compile(r"[0-9]{6}")


def is_region_code(code: object) -> TypeGuard[str]:
    """Tell whether ``code`` is a well-formed region code.

    True for a ``str`` of exactly six ASCII digits whose province part is not ``00`` and that
    is not of the impossible shape ``PP00DD`` (a district with no city part). Says nothing about
    whether the code is in the official list. Never raises.
    """
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        return False
    if code[:2] == "00":
        return False
    return not (code[2:4] == "00" and code[4:] != "00")


def _checked(code: object) -> str:
    if not is_region_code(code):
        raise ValueError(f"not a region code: {code!r}")
    return code


def region_level(code: str) -> RegionLevel:
    """Return the level of ``code`` from its shape.

    ``PP0000`` -> ``"province"``, ``PPCC00`` -> ``"city"``, anything else -> ``"district"``.
    Raises ``ValueError`` when ``code`` is not a well-formed region code.
    """
    code = _checked(code)
    if code[2:] == "0000":
        return PROVINCE
    if code[4:] == "00":
        return CITY
    return DISTRICT


@lru_cache(maxsize=4_096)
def specificity(code: str) -> int:
    """Return how specific ``code`` is: district 3 > city 2 > province 1.

    Sort territories by ``-specificity(code)`` to try the most specific one first.
    Raises ``ValueError`` when ``code`` is not a well-formed region code.
    """
    return _SPECIFICITY[region_level(code)]


def ancestors(code: str) -> list[str]:
    """Return the codes that contain ``code``, outermost first, without ``code`` itself.

    A province has none, a city has ``[province]``, a district ``[province, city]``
    (``"330106"`` -> ``["330000", "330100"]``). Derived from the shape only. Raises
    ``ValueError`` when ``code`` is not a well-formed region code.
    """
    level = region_level(code)
    if level == PROVINCE:
        return []
    province = code[:2] + "0000"
    if level == CITY:
        return [province]
    return [province, code[:4] + "00"]


def region_prefix(code: str) -> str:
    """The leading digits every code inside ``code`` shares: ``"42"`` for a province
    (420000), ``"4201"`` for a city (420100), the whole code for a district. Raises
    ``ValueError`` when ``code`` is not a well-formed region code."""
    level = region_level(code)
    return code[:2] if level == PROVINCE else code[:4] if level == CITY else code


def covers(territory_code: str, region_code: str) -> bool:
    """Tell whether a territory code covers a region.

    True when ``region_code`` equals ``territory_code`` or lies inside it: a province covers
    itself and all its cities and districts, a city itself and its districts, a district only
    itself. A region never covers its ancestors. False (never an error) when either code is not
    a well-formed region code, so malformed data never grants coverage.
    """
    if not (is_region_code(territory_code) and is_region_code(region_code)):
        return False
    if territory_code == region_code:
        return True
    return territory_code in ancestors(region_code)


def covering(territory_codes: Iterable[str], region_code: str) -> list[str]:
    """Return the codes of ``territory_codes`` that cover ``region_code``.

    The result is ordered most specific first (district, then city, then province); codes of
    the same level keep their input order; duplicates appear once. Malformed codes never cover
    anything, so they are left out; an empty list means nothing covers the region.
    """
    found = dict.fromkeys(code for code in territory_codes if covers(code, region_code))
    return sorted(found, key=lambda code: -specificity(code))
